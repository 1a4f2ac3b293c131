"""Server tests of the labelling and review pages (no browser: plain HTTP with http.client)."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import threading
import time

import cv2
import numpy as np
import pytest
from _gui_helpers import BEHAVIORS, CROP, REPO, RUN, SAMPLE, VIDEO, read_index, window_probabilities
from conftest import snapshot


@pytest.fixture
def server(proj):
    from mousefear.gui import start_labelling

    srv = start_labelling(proj)
    yield srv
    srv.stop()


class Client:
    """Minimal HTTP client that sends exactly the headers it is given (Host included)."""

    def __init__(self, port: int):
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = {"Host": f"127.0.0.1:{self.port}"}
        h.update(headers or {})
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in h.items():
            if v is not None:
                conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, resp.getheader("Content-Type", ""), data

    def get(self, path: str, **headers):
        return self.request("GET", path, headers=headers)

    def get_json(self, path: str):
        status, _, data = self.get(path)
        assert status == 200, data
        return json.loads(data)

    def post(self, path: str, payload, headers: dict | None = None):
        h = {"Content-Type": "application/json", "Origin": self.origin}
        h.update(headers or {})
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        status, _, data = self.request("POST", path, body=body, headers=h)
        return status, json.loads(data) if data else None


@pytest.fixture
def client(server) -> Client:
    return Client(server.port)


@pytest.fixture(scope="module")
def ro_client(base_project):
    """Client of a server on the shared base project, for tests that only read."""
    from mousefear.gui import start_labelling

    srv = start_labelling(base_project)
    yield Client(srv.port)
    srv.stop()


# ------------------------------------------------------------------------------------------------ security
def test_binds_localhost_only_and_port_zero_picks_a_free_port(server):
    assert server.server_address[0] == "127.0.0.1"
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}/label"


@pytest.mark.parametrize("host", ["evil.example:80", "evil.example", "127.0.0.1", "127.0.0.1:1", "0.0.0.0:{port}",
                                  "attacker.localhost:{port}", ""])
def test_foreign_host_header_is_refused(ro_client, host):
    status, ctype, data = ro_client.get("/label", Host=host.format(port=ro_client.port))
    assert status == 403
    assert b"Host" in data and b"<html" not in data


def test_localhost_names_are_accepted(ro_client):
    assert ro_client.get("/label", Host=f"localhost:{ro_client.port}")[0] == 200
    assert ro_client.get("/label", Host=f"127.0.0.1:{ro_client.port}")[0] == 200


FOREIGN_ORIGINS = ["http://evil.example", "http://127.0.0.1:1", "https://127.0.0.1:{port}", "null",
                   "http://localhost.evil.example:{port}", "http://127.0.0.1:{port}.evil.example"]


def test_foreign_origin_is_refused_for_reads_and_writes(client, proj):
    before = snapshot(proj.parent)
    cid = read_index(proj)[0]["id"]
    for origin in FOREIGN_ORIGINS:
        origin = origin.format(port=client.port)
        status, _, data = client.get("/api/label/state", Origin=origin)
        assert status == 403 and b"Origin" in data, origin
        status, body = client.post("/api/label/answer", {"id": cid, "answer": "freezing"}, headers={"Origin": origin})
        assert status == 403 and "Origin" in body["error"], origin
        status, body = client.post("/api/review/correct", {"run": RUN, "video": VIDEO, "start_frame": 0,
                                                           "end_frame": 30, "behavior": "freezing"},
                                   headers={"Origin": origin})
        assert status == 403, origin
    assert snapshot(proj.parent) == before


def test_write_without_origin_or_as_form_is_refused(client, proj):
    before = snapshot(proj.parent)
    cid = read_index(proj)[0]["id"]
    payload = json.dumps({"id": cid, "answer": "freezing"}).encode()
    status, body = client.post("/api/label/answer", payload, headers={"Origin": None})
    assert status == 403 and "Origin" in body["error"]
    status, body = client.post("/api/label/answer", payload, headers={"Content-Type": "text/plain"})
    assert status == 415
    status, body = client.post("/api/label/answer", b"id=x&answer=freezing",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415
    status, body = client.post("/api/label/answer", b"{not json")
    assert status == 400 and "JSON" in body["error"]
    status, body = client.post("/api/label/answer", b"[1, 2]")
    assert status == 400
    for method in ("PUT", "DELETE", "OPTIONS"):
        assert client.request(method, "/api/label/answer", headers={"Origin": client.origin})[0] == 405
    assert client.get("/api/label/answer")[0] == 404  # writes are POST only
    assert snapshot(proj.parent) == before


@pytest.mark.parametrize("path", [
    "/static/../config.yaml",
    "/static/%2e%2e/config.yaml",
    "/static/%2E%2E%2Fconfig.yaml",
    "/static/..%2f..%2fconfig.yaml",
    "/static/%252e%252e/config.yaml",
    "/../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/static/..\\..\\config.yaml",
    "/static//etc/passwd",
    "/static/style.css%00.png",
    "/static/__init__.py",
    "/static/server.py",
    "/media/exemplars/../config.yaml",
    "/media/exemplars/..%2fconfig.yaml",
    "/media/exemplars/%2e%2e/index.csv",
    "/media/exemplars/{cid}/../../config.yaml",
    "/media/exemplars/{cid}/info.json",
    "/media/exemplars/{cid}/%2e%2e%2findex.csv",
    "/media/exemplars/nonexistent/frame_00.png",
    "/media/exemplars/{cid}/frame_99.png",
    "/config.yaml",
    "/exemplars/index.csv",
    "/labels/mouse1_day1.csv",
])
def test_paths_outside_what_is_served_are_404(ro_client, base_project, path):
    cid = read_index(base_project)[0]["id"]
    status, _, data = ro_client.get(path.format(cid=cid))
    assert status == 404, data
    assert b"gui" not in data and b"project" not in data  # no file content leaks


def test_served_assets_and_media(client, proj):
    cid = read_index(proj)[0]["id"]
    status, ctype, data = client.get("/static/style.css")
    assert status == 200 and ctype.startswith("text/css")
    status, ctype, data = client.get("/static/label.js")
    assert status == 200 and "javascript" in ctype
    status, ctype, data = client.get(f"/media/exemplars/{cid}/frame_00.png")
    assert status == 200 and ctype == "image/png"
    assert data == (proj.parent / "exemplars" / cid / "frame_00.png").read_bytes()
    status, _, page = client.get("/label")
    assert status == 200
    # every asset is local: no address outside this server in the pages and scripts
    for name in ("label.html", "review.html", "label.js", "review.js", "common.js", "style.css"):
        text = client.get(f"/static/{name}")[2].decode()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text, name
    assert client.get("/")[0] == 302


def test_write_outside_the_project_is_refused(client, proj, tmp_path):
    """A label file that is a link to a file outside the project is never written through."""
    outside = tmp_path / "outside.csv"
    outside.write_text("do not touch\n")
    link = proj.parent / "labels" / f"{VIDEO}.csv"
    link.symlink_to(outside)
    before = snapshot(proj.parent)
    status, body = client.post("/api/review/correct", {"run": RUN, "video": VIDEO, "start_frame": 0,
                                                       "end_frame": 30, "behavior": "freezing"})
    assert status == 403
    assert "outside" in body["error"] or "inside the project" in body["error"]
    assert outside.read_text() == "do not touch\n"
    assert snapshot(proj.parent) == before
    # a video id that tries to climb out of labels/ is not a video of the run
    status, body = client.post("/api/review/correct", {"run": RUN, "video": "../../outside", "start_frame": 0,
                                                       "end_frame": 30, "behavior": "freezing"})
    assert status == 404
    status, body = client.post("/api/review/correct", {"run": "../../..", "video": VIDEO, "start_frame": 0,
                                                       "end_frame": 30, "behavior": "freezing"})
    assert status == 404
    assert snapshot(proj.parent) == before


def test_exemplars_folder_linked_outside_is_refused(proj, tmp_path):
    """The index is not written when exemplars/ resolves outside the project."""
    from mousefear.gui import start_labelling

    elsewhere = tmp_path / "elsewhere"
    shutil.move(proj.parent / "exemplars", elsewhere)
    (proj.parent / "exemplars").symlink_to(elsewhere)
    before = snapshot(elsewhere)
    srv = start_labelling(proj)
    try:
        c = Client(srv.port)
        cid = read_index(proj)[0]["id"]
        status, body = c.post("/api/label/answer", {"id": cid, "answer": "freezing"})
        assert status == 403 and "inside the project" in body["error"]
    finally:
        srv.stop()
    assert snapshot(elsewhere) == before


def test_bad_requests_answer_400_and_write_nothing(client, proj):
    before = snapshot(proj.parent)
    cid = read_index(proj)[0]["id"]
    status, body = client.post("/api/label/answer", {"id": cid, "answer": "sleeping"})
    assert status == 400
    assert body["error"] == ("Expected a behaviour of the project (freezing, exploring, grooming, rearing, "
                             "fleeing), skip or unsure, but got 'sleeping'")
    status, body = client.post("/api/label/answer", {"id": "no_such_000000-000030", "answer": "freezing"})
    assert status == 404
    status, body = client.post("/api/label/answer", {"id": cid})
    assert status == 400 and "'answer'" in body["error"]
    status, body = client.post("/api/review/correct", {"run": RUN, "video": VIDEO, "start_frame": 0,
                                                       "end_frame": 30, "behavior": "sleeping"})
    assert status == 400
    assert body["error"] == ("Expected a behaviour of the project (freezing, exploring, grooming, rearing, "
                             "fleeing), but got 'sleeping'")
    status, body = client.post("/api/review/correct", {"run": RUN, "video": VIDEO, "start_frame": 5,
                                                       "end_frame": 30, "behavior": "freezing"})
    assert status == 400 and "[5, 30)" in body["error"]
    status, body = client.post("/api/review/correct", {"run": RUN, "video": VIDEO, "start_frame": "0",
                                                       "end_frame": 30, "behavior": "freezing"})
    assert status == 400 and "'start_frame'" in body["error"]
    status, _, data = client.request("POST", "/api/label/answer", body=b"x" * 10,
                                     headers={"Content-Type": "application/json", "Origin": client.origin,
                                              "Content-Length": str(2 << 20)})
    assert status == 413
    assert snapshot(proj.parent) == before


# ------------------------------------------------------------------------------------------------ labelling
def test_label_state_lists_candidates_keys_and_progress(client, proj):
    state = client.get_json("/api/label/state")
    assert [b["name"] for b in state["behaviors"]] == BEHAVIORS
    assert [b["key"] for b in state["behaviors"]] == ["1", "2", "3", "4", "5"]
    from mousefear.pipeline.plots import behavior_colors

    assert state["colors"] == behavior_colors(BEHAVIORS)  # one colour per behaviour: the plots', the report's
    assert state["other"] == [{"name": "skip", "key": "s"}, {"name": "unsure", "key": "u"}]
    index = read_index(proj)
    assert [c["id"] for c in state["candidates"]] == [r["id"] for r in index]
    first = state["candidates"][0]
    assert first["frames"] == [f"/media/exemplars/{first['id']}/frame_{i:02d}.png" for i in range(4)]
    assert first["sheet"] == f"/media/exemplars/{first['id']}/sheet.png"
    assert first["fps"] == 30.0
    assert state["summary"] == {"total": 6, "labelled": 0, "answered": 0, "skipped": 0, "unsure": 0,
                                "counts": dict.fromkeys(BEHAVIORS, 0), "missing": BEHAVIORS, "next": 0}


def test_answers_are_saved_at_once_and_resume_at_first_open_candidate(client, proj):
    from mousefear.gui.labelling import read_state

    index0 = read_index(proj)
    ids = [r["id"] for r in index0]
    answers = {ids[0]: "freezing", ids[1]: "skip", ids[2]: "fleeing", ids[4]: "unsure"}
    for cid, ans in answers.items():
        status, body = client.post("/api/label/answer", {"id": cid, "answer": ans})
        assert status == 200, body
    index = read_index(proj)
    for before, after in zip(index0, index, strict=True):
        ans = answers.get(before["id"], "")
        expected = dict(before)
        if ans in BEHAVIORS:
            expected.update(label=ans, label_source="person")
        assert after == expected
    state = read_state(proj.parent / "exemplars" / "labelling_state.csv")
    assert {k: v["answer"] for k, v in state.items()} == answers
    summary = client.get_json("/api/label/state")["summary"]
    assert summary["next"] == 3
    assert summary["counts"] == {"freezing": 1, "exploring": 0, "grooming": 0, "rearing": 0, "fleeing": 1}
    assert summary["missing"] == ["exploring", "grooming", "rearing"]
    assert (summary["answered"], summary["labelled"], summary["skipped"], summary["unsure"]) == (4, 2, 1, 1)

    # a new server (the person came back the next day) resumes where they stopped
    from mousefear.gui import start_labelling

    srv = start_labelling(proj)
    try:
        again = Client(srv.port).get_json("/api/label/state")
    finally:
        srv.stop()
    assert again["summary"]["next"] == 3
    assert [c["answer"] for c in again["candidates"]][:5] == ["freezing", "skip", "fleeing", "", "unsure"]

    # changing one's mind: skip after a label clears the label
    status, body = client.post("/api/label/answer", {"id": ids[0], "answer": "skip"})
    assert status == 200
    assert read_index(proj)[0] == index0[0]
    assert body["summary"]["counts"]["freezing"] == 0


def test_pages_lists_what_the_server_has(client, proj):
    assert client.get_json("/api/pages") == {"pages": ["/label", "/review"]}
    from mousefear.gui import start_labelling

    shutil.rmtree(proj.parent / "behavior-vectors" / RUN)
    srv = start_labelling(proj)  # nothing classified: no review page, the labelling page still works
    try:
        c = Client(srv.port)
        assert c.get_json("/api/pages") == {"pages": ["/label"]}
        assert c.get("/review")[0] == 404
    finally:
        srv.stop()


def test_labelling_needs_exemplars(tmp_path, make_video):
    import mousefear
    from mousefear.errors import ProjectError
    from mousefear.gui import make_labelling_server

    config = mousefear.create_project("e", "t", [make_video("m1_day1.avi")], working_directory=tmp_path)
    with pytest.raises(ProjectError, match="no candidate exemplars.*extract"):
        make_labelling_server(config)


# ------------------------------------------------------------------------------------------------ review
def test_review_data_matches_the_vector_file(client, proj):
    from mousefear.formats.vectors import read_vector_windows

    data = client.get_json(f"/api/review/data?run={RUN}&video={VIDEO}")
    win = read_vector_windows(proj.parent / "behavior-vectors" / RUN / f"{VIDEO}.h5")
    assert data["behaviors"] == BEHAVIORS and data["fps"] == 30.0 and data["n_frames"] == 1080
    assert data["windows"]["start"] == list(range(0, 1080, 30))
    assert data["windows"]["end"] == list(range(30, 1081, 30))
    assert data["windows"]["label"] == list(win["label"])
    expected = window_probabilities(36)
    got = np.array([[np.nan if p is None else p for p in row] for row in data["windows"]["probability"]])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert data["windows"]["probability"][3] == [None] * 5
    assert data["human"] == [] and data["corrections"] == []
    runs = client.get_json("/api/review/runs")
    assert runs["runs"] == [{"name": RUN, "videos": [VIDEO]}]
    from mousefear.pipeline.plots import behavior_colors

    assert runs["colors"] == data["colors"] == behavior_colors(BEHAVIORS)
    assert client.get(f"/api/review/data?run=nope&video={VIDEO}")[0] == 404
    assert client.get(f"/api/review/data?run={RUN}&video=nope")[0] == 404


def test_frames_are_decoded_cropped_from_the_video(client, proj):
    cap = cv2.VideoCapture(str(SAMPLE))
    frames = []
    for _ in range(200):
        ok, f = cap.read()
        frames.append(f)
    cap.release()
    x, y, w, h = CROP
    for n in (0, 1, 2, 150, 31, 199):  # backwards and forwards, to exercise seeking
        status, ctype, data = client.get(f"/api/review/frame?video={VIDEO}&frame={n}")
        assert status == 200 and ctype == "image/jpeg"
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (h, w, 3)
        want = frames[n][y:y + h, x:x + w].astype(float)
        diff = np.abs(img.astype(float) - want).mean()
        assert diff < 3.0, (n, diff)
        others = [np.abs(img.astype(float) - frames[m][y:y + h, x:x + w]).mean() for m in (n - 15, n + 15)
                  if 0 <= m < 200]
        assert all(diff < o for o in others)  # the frame asked for, not a neighbour
    assert client.get(f"/api/review/frame?video={VIDEO}&frame=1080")[0] == 404
    assert client.get(f"/api/review/frame?video={VIDEO}&frame=-1")[0] == 404
    assert client.get(f"/api/review/frame?video={VIDEO}&frame=abc")[0] == 400
    assert client.get("/api/review/frame?video=../config&frame=0")[0] == 404


def test_correction_sets_window_frames_and_records_it(client, proj):
    from mousefear.formats.labels import read_label_file
    from mousefear.formats.vectors import read_vector_windows
    from mousefear.gui.review import read_corrections

    labels_dir = proj.parent / "labels"
    win = read_vector_windows(proj.parent / "behavior-vectors" / RUN / f"{VIDEO}.h5")
    status, body = client.post("/api/review/correct", {"run": RUN, "video": VIDEO, "start_frame": 60,
                                                       "end_frame": 90, "behavior": "rearing"})
    assert status == 200, body
    labels = read_label_file(labels_dir / f"{VIDEO}.csv", BEHAVIORS, n_frames=1080)
    expected = np.full(1080, "", dtype=object)
    expected[60:90] = "rearing"
    assert list(labels) == list(expected)
    lines = (labels_dir / f"{VIDEO}.corrections.csv").read_text().splitlines()
    predicted = win.loc[2, "label"]
    assert predicted == BEHAVIORS[2]
    assert lines[0] == "start_frame,end_frame,behavior,run,predicted,probability,time"
    assert lines[1].startswith(f"60,90,rearing,{RUN},{predicted},0.") and len(lines) == 2
    row = read_corrections(labels_dir / f"{VIDEO}.corrections.csv")[0]
    assert row["probability"] == pytest.approx(window_probabilities(36)[2, 2], abs=1e-5)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["time"])

    # existing human labels elsewhere are kept; a second answer for the same window replaces the first
    status, body = client.post("/api/review/correct", {"run": RUN, "video": VIDEO, "start_frame": 120,
                                                       "end_frame": 150, "behavior": "freezing"})
    status, body = client.post("/api/review/correct", {"run": RUN, "video": VIDEO, "start_frame": 60,
                                                       "end_frame": 90, "behavior": "grooming"})
    assert status == 200
    labels = read_label_file(labels_dir / f"{VIDEO}.csv", BEHAVIORS, n_frames=1080)
    expected[60:90] = "grooming"
    expected[120:150] = "freezing"
    assert list(labels) == list(expected)
    assert body["human"] == [{"behavior": "grooming", "start": 60, "end": 90},
                             {"behavior": "freezing", "start": 120, "end": 150}]
    rows = read_corrections(labels_dir / f"{VIDEO}.corrections.csv")
    assert [(r["start_frame"], r["end_frame"], r["behavior"]) for r in rows] == [(60, 90, "grooming"),
                                                                                 (120, 150, "freezing")]
    # the window without an answer can be labelled too; its prediction is recorded as empty
    status, body = client.post("/api/review/correct", {"run": RUN, "video": VIDEO, "start_frame": 90,
                                                       "end_frame": 120, "behavior": "exploring"})
    assert status == 200
    rows = read_corrections(labels_dir / f"{VIDEO}.corrections.csv")
    assert [r["start_frame"] for r in rows] == [60, 90, 120]
    assert (rows[1]["behavior"], rows[1]["predicted"], rows[1]["probability"]) == ("exploring", "", None)


def test_correction_keeps_an_existing_label_file(client, proj):
    from mousefear.formats.labels import read_label_file, write_label_file

    truth = np.array(
        [r.split(",")[1] for r in (REPO / "sample_project" / "mouse1_day1_labels.csv").read_text().splitlines()[1:]],
        dtype=object)
    path = proj.parent / "labels" / f"{VIDEO}.csv"
    write_label_file(path, truth, BEHAVIORS)
    status, _ = client.post("/api/review/correct", {"run": RUN, "video": VIDEO, "start_frame": 300,
                                                    "end_frame": 330, "behavior": "grooming"})
    assert status == 200
    expected = truth.copy()
    expected[300:330] = "grooming"
    assert list(read_label_file(path, BEHAVIORS, 1080)) == list(expected)


def test_damaged_label_file_is_reported_and_kept(client, proj):
    path = proj.parent / "labels" / f"{VIDEO}.csv"
    path.write_text("frame,behavior\n0,dancing\n")
    before = snapshot(proj.parent)
    status, body = client.post("/api/review/correct", {"run": RUN, "video": VIDEO, "start_frame": 0,
                                                       "end_frame": 30, "behavior": "grooming"})
    assert status == 409 and "dancing" in body["error"]
    assert snapshot(proj.parent) == before


def test_review_needs_vectors_and_known_run(proj, tmp_path, make_video):
    import mousefear
    from mousefear.errors import ProjectError, VectorFileError
    from mousefear.gui import make_review_server

    with pytest.raises(ProjectError, match=r"Expected a run among \['motion-test'\] \(folders of "
                                           r".*behavior-vectors\), but got 'other'"):
        make_review_server(proj, run="other")
    (proj.parent / "behavior-vectors" / "empty-run").mkdir()
    with pytest.raises(VectorFileError, match="run 'empty-run' has no behaviour-vector files"):
        make_review_server(proj, run="empty-run")
    with pytest.raises(ProjectError, match="no behaviour vector of video 'm9_day1'"):
        make_review_server(proj, video="m9_day1")
    config = mousefear.create_project("e", "t", [make_video("m1_day1.avi")], working_directory=tmp_path)
    with pytest.raises(ProjectError, match="no behaviour vectors to review"):
        make_review_server(config)
    srv = make_review_server(proj, run=RUN, video=VIDEO)
    try:
        assert srv.url.endswith(f"/review?run={RUN}&video={VIDEO}")
    finally:
        srv.server_close()


def test_review_opens_the_run_every_command_would_choose(proj):
    """No run named: classification.run, else the newest run (the rule of evaluate and summarize)."""
    from mousefear.core.settings import load_config, save_config
    from mousefear.gui import make_review_server

    vec = proj.parent / "behavior-vectors"
    shutil.copytree(vec / RUN, vec / "later")  # written last
    old = time.time() - 100
    for p in (vec / RUN).glob("*.h5"):
        os.utime(p, (old, old))
    for run, configured in (("later", None), (RUN, RUN)):
        cfg = load_config(proj)
        cfg["classification"]["run"] = configured
        save_config(proj, cfg)
        srv = make_review_server(proj)
        try:
            assert srv.url.endswith(f"/review?run={run}&video={VIDEO}")
        finally:
            srv.server_close()


def test_pages_open_the_project_once(proj, monkeypatch):
    """Starting a server reads config.yaml once (both page families share the opened project); serving pages,
    answering and correcting read it no more."""
    import mousefear.core.config as core_config
    from mousefear.gui import start_labelling, start_review

    reads = []
    real = core_config.read_document
    monkeypatch.setattr(core_config, "read_document", lambda config: reads.append(config) or real(config))
    for start in (start_labelling, start_review):
        reads.clear()
        srv = start(proj)
        try:
            assert len(reads) == 1
            c = Client(srv.port)
            state = c.get_json("/api/label/state")
            c.get_json("/api/review/runs")
            c.get_json(f"/api/review/data?run={RUN}&video={VIDEO}")
            cid = state["candidates"][0]["id"]
            assert c.post("/api/label/answer", {"id": cid, "answer": "grooming"})[0] == 200
            assert c.post("/api/review/correct", {"run": RUN, "video": VIDEO, "start_frame": 0, "end_frame": 30,
                                                  "behavior": "rearing"})[0] == 200
            assert len(reads) == 1
        finally:
            srv.stop()


# ------------------------------------------------------------------------------------------------ running
def test_ctrl_c_stops_cleanly(proj, monkeypatch):
    from mousefear.gui import make_labelling_server

    srv = make_labelling_server(proj)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(srv, "serve_forever", interrupted)
    srv.run_until_interrupted()  # returns instead of raising
    assert srv.socket.fileno() == -1  # socket closed


def test_stop_ends_the_background_thread(proj):
    from mousefear.gui import start_labelling

    srv = start_labelling(proj)
    thread = srv._thread
    assert thread.is_alive()
    srv.stop()
    assert not thread.is_alive()
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", srv.port, timeout=2).request("GET", "/label")


def test_concurrent_answers_are_all_kept(client, proj):
    ids = [r["id"] for r in read_index(proj)]
    results = []

    def answer(cid, ans):
        results.append(client.post("/api/label/answer", {"id": cid, "answer": ans})[0])

    threads = [threading.Thread(target=answer, args=(cid, BEHAVIORS[i % 5])) for i, cid in enumerate(ids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * len(ids)
    assert [r["label"] for r in read_index(proj)] == [BEHAVIORS[i % 5] for i in range(len(ids))]


def test_cli_label_reports_missing_exemplars(tmp_path, make_video, capsys):
    import mousefear
    from mousefear.cli import main

    config = mousefear.create_project("e", "t", [make_video("m1_day1.avi")], working_directory=tmp_path)
    assert main(["label", str(config)]) == 2
    assert "no candidate exemplars" in capsys.readouterr().err
    assert main(["review", str(config), "--run", "x"]) == 2
    assert "no behaviour vectors" in capsys.readouterr().err


def test_cli_prints_the_address(proj, monkeypatch, capsys):
    from mousefear.cli import main
    from mousefear.gui.server import GuiServer

    monkeypatch.setattr(GuiServer, "serve_forever", lambda self, poll_interval=0.5: None)
    assert main(["review", str(proj), "--run", RUN]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Review page: http://127.0.0.1:") and f"run={RUN}" in out
    assert main(["label", str(proj)]) == 0
    assert "/label" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- side files
def test_side_files_round_trip_and_skip_blank_rows(tmp_path):
    from mousefear.gui.labelling import format_state, read_state
    from mousefear.gui.review import format_corrections, read_corrections

    state = {"m1-000": {"answer": "freezing", "time": "2026-11-23T10:00:00Z"},
             "m1-001": {"answer": "skip", "time": "2026-11-23T10:00:05Z"}}
    path = tmp_path / "labelling_state.csv"
    assert read_state(path) == {} and read_corrections(tmp_path / "x.corrections.csv") == []
    path.write_text(format_state(state).replace("\nm1-001", "\n\nm1-001"))
    assert path.read_text() == ("id,answer,time\nm1-000,freezing,2026-11-23T10:00:00Z\n\n"
                                "m1-001,skip,2026-11-23T10:00:05Z\n")
    assert read_state(path) == state
    rows = [{"start_frame": 30, "end_frame": 60, "behavior": "freezing", "run": "r", "predicted": "exploring",
             "probability": 0.5341234, "time": "2026-11-23T10:15:02Z"},
            {"start_frame": 60, "end_frame": 90, "behavior": "fleeing", "run": "r", "predicted": "",
             "probability": None, "time": "2026-11-23T10:15:09Z"}]
    path = tmp_path / "x.corrections.csv"
    path.write_text(format_corrections(rows))
    assert path.read_text() == ("start_frame,end_frame,behavior,run,predicted,probability,time\n"
                                "30,60,freezing,r,exploring,0.534123,2026-11-23T10:15:02Z\n"
                                "60,90,fleeing,r,,,2026-11-23T10:15:09Z\n")
    assert read_corrections(path) == [{**rows[0], "probability": 0.534123}, rows[1]]


@pytest.mark.parametrize(("name", "text", "message"), [
    ("state", "id,answer\nm1-000,freezing\n", "{path}: Expected the header 'id,answer,time', but got 'id,answer'"),
    ("state", "", "{path}: Expected the header 'id,answer,time', but got ''"),
    ("state", "id,answer,time\nm1-000,freezing,t\n\nm1-001,skip\n",
     "{path}, row 4: Expected 3 columns (id,answer,time), but got 2"),
    ("corrections", "start_frame,end_frame,behavior,run,predicted,time\n",
     "{path}: Expected the header 'start_frame,end_frame,behavior,run,predicted,probability,time', but got "
     "'start_frame,end_frame,behavior,run,predicted,time'"),
    ("corrections", "start_frame,end_frame,behavior,run,predicted,probability,time\n30,60,freezing,r,x,,t,extra\n",
     "{path}, row 2: Expected 7 columns (start_frame,end_frame,behavior,run,predicted,probability,time), but got 8"),
    ("corrections", "start_frame,end_frame,behavior,run,predicted,probability,time\n30,6O,freezing,r,x,,t\n",
     "{path}, row 2: Expected integer frames and a numeric probability, but got"),
])
def test_bad_side_files_are_refused_naming_file_and_row(tmp_path, name, text, message):
    from mousefear.errors import LabelError
    from mousefear.gui.labelling import read_state
    from mousefear.gui.review import read_corrections

    path = tmp_path / f"{name}.csv"
    path.write_text(text)
    with pytest.raises(LabelError, match="^" + re.escape(message.format(path=path))):
        (read_state if name == "state" else read_corrections)(path)


def test_review_lists_the_seconds_to_score_next(proj):
    """The page's list is suggest_seconds of the project, from stored measurements only (nothing decoded while
    the page waits); a run without measurements leaves its video out and says so."""
    from _gui_helpers import add_motion_run

    from mousefear.gui import start_review
    from mousefear.pipeline.suggest import suggest_seconds

    srv = start_review(proj, run=RUN, video=VIDEO)
    try:
        client = Client(srv.port)
        data = client.get_json("/api/review/suggest?n=5")
        assert data["rows"] == [] and data["left_out"] == [VIDEO] and data["scored_seconds"] == 0
        assert client.get("/api/review/suggest?n=0")[0] == 400
        assert client.get("/api/review/suggest?n=x")[0] == 400
        run = add_motion_run(proj)  # now a run stores the video's measurements, and 15 s are scored
        data = client.get_json("/api/review/suggest?n=3")
    finally:
        srv.stop()
    table = suggest_seconds(proj, 3, measure=False)
    assert [(r["video"], r["second"], r["start_frame"], r["predicted"]) for r in data["rows"]] == [
        (r.video_id, r.second, r.start_frame, r.predicted) for r in table.itertuples()]
    assert len(data["rows"]) == 3 and all(r["second"] >= 15 for r in data["rows"])  # unscored seconds only
    assert data["left_out"] == [] and data["scored_seconds"] == 15 and run.startswith("motion-animal-")
