"""The demo cast loaded by ``manage.py seed_demo``: data, kept in ``demo.json`` beside this file."""

import json
from pathlib import Path

DEMO_PERSONAS: list[dict] = json.loads(Path(__file__).with_name("demo.json").read_text("utf-8"))
