"""manage.py import_cards / export_cards."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from personas.cards import persona_to_card
from personas.models import Persona
from tests.lore import cards as team

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_import_a_folder_with_progress_and_a_report_of_failures(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "mira.png").write_bytes(team.card_png(chara=team.V2))
    (folder / "quill.charx").write_bytes(team.charx(team.V3, team.V3_ASSETS))
    (folder / "tom.json").write_text(json.dumps(team.V1))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    (folder / "notes.txt").write_text("ignored")
    out, err = io.StringIO(), io.StringIO()
    call_command("import_cards", str(folder), stdout=out, stderr=err)
    assert "3 imported, 1 failed" in out.getvalue()
    assert "broken.png: file: not a PNG image" in err.getvalue()
    assert "import_cards: 100%" in err.getvalue()  # the progress bar
    assert sorted(Persona.objects.values_list("name", flat=True)) == ["Mira", "Old Tom", "Quill"]


def test_export_then_import_gives_the_same_cards(tmp_path):
    call_command("import_cards", str(_folder(tmp_path)), stdout=io.StringIO(), stderr=io.StringIO())
    before = {p.name: persona_to_card(p, fmt="ccv2") for p in Persona.objects.all()}
    for as_ in ("png", "charx", "json"):
        out_dir = tmp_path / f"out-{as_}"
        err = io.StringIO()
        call_command("export_cards", str(out_dir), "--as", as_, stdout=io.StringIO(), stderr=err)
        assert len(list(out_dir.iterdir())) == 2 and "export_cards: 100%" in err.getvalue()
    Persona.objects.all().delete()
    call_command(
        "import_cards", str(tmp_path / "out-png"), stdout=io.StringIO(), stderr=io.StringIO()
    )
    after = {p.name: persona_to_card(p, fmt="ccv2") for p in Persona.objects.all()}
    assert after["Old Tom"] == before["Old Tom"]
    assert after["Mira"]["data"]["character_book"]["name"] == "Gull Point"


def test_export_unknown_slug_and_import_missing_dir(tmp_path):
    with pytest.raises(CommandError):
        call_command("export_cards", str(tmp_path), "--persona", "nobody")
    with pytest.raises(CommandError):
        call_command("import_cards", str(tmp_path / "missing"))


def _folder(tmp_path):
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "mira.json").write_text(json.dumps(team.V2))
    (folder / "tom.json").write_text(json.dumps(team.V1))
    return folder
