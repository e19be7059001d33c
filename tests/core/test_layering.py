"""The core package depends on no feature app, and periodic work is declared once."""

import ast
from pathlib import Path

from django.conf import settings

from personamcp import jobs
from personamcp.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]


def _feature_packages() -> set[str]:
    """Every top-level package of the repository except the core one."""
    return {
        p.name
        for p in ROOT.iterdir()
        if p.is_dir() and p.name != "personamcp" and (p / "__init__.py").exists()
    } | {"personas", "memory", "conversations", "rooms", "bots", "llm"}


def _imported_modules(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def test_the_core_package_imports_no_feature_app():
    features = _feature_packages()
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / "personamcp").rglob("*.py"))
        for line, module in _imported_modules(path)
        if module.split(".")[0] in features
    ]
    assert offending == []


def test_the_layering_check_sees_function_level_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from personas.models import Persona\n    import memory\n")
    assert list(_imported_modules(sample)) == [(2, "personas.models"), (3, "memory")]


def test_every_periodic_entry_names_a_registered_task():
    celery_app.loader.import_default_modules()
    missing = [
        (name, entry["task"])
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
        if entry["task"] not in celery_app.tasks
    ]
    assert missing == []


def test_the_embedded_scheduler_runs_the_beat_schedule(settings):
    settings.CELERY_BEAT_SCHEDULE = {
        "demo": {"task": "personamcp.echo", "schedule": 12, "args": ("x",)},
    }
    assert jobs.periodic_plan() == {"demo": (12.0, "personamcp.echo", ("x",))}


def test_bot_supervision_goes_to_the_bot_queue():
    entry = settings.CELERY_BEAT_SCHEDULE["bots.supervise"]
    assert entry["options"] == {"queue": settings.BOTS["QUEUE"]}
    assert entry["schedule"] == settings.BOTS["SUPERVISE_INTERVAL"]
