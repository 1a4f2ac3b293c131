"""Packaging promises: importing mousefear stays light, and works where torch is not installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import REPO


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=REPO)


def test_import_does_not_import_torch_or_transformers():
    out = _run("""
        import sys, mousefear
        heavy = [m for m in ("torch", "transformers", "torchvision") if m in sys.modules]
        print(",".join(heavy) or "none")
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "none"


def test_project_functions_work_without_torch(tmp_path):
    # make torch and transformers unimportable, as on a machine where they are not installed
    out = _run(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "transformers", "torchvision"):
                    raise ModuleNotFoundError(name)
        sys.meta_path.insert(0, Block())
        sys.path.insert(0, {str(REPO / "tests")!r})
        from conftest import write_video
        import mousefear
        from pathlib import Path
        v = write_video(Path({str(tmp_path)!r}) / "m1_day1.avi")
        cfg = mousefear.create_project("p", "q", [v], working_directory={str(tmp_path)!r})
        print(mousefear.video_table(cfg)["frames"].tolist())
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[45]"
