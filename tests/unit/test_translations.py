"""English and Russian must both be complete: every string in the code is in the Russian
catalogue, translated, with the same placeholders."""
import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _ids(catalog):
    return {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in catalog if m.id}


def test_russian_catalogue_is_complete_and_current(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    str(ROOT / "babel.cfg"), "-k", "_l", "-o", str(pot), "."],
                   check=True, cwd=ROOT, capture_output=True)
    with open(pot, "rb") as fh:
        in_code = _ids(read_po(fh))
    with open(ROOT / "app/translations/ru/LC_MESSAGES/messages.po", "rb") as fh:
        russian = read_po(fh)
    missing = in_code - _ids(russian)
    assert not missing, f"strings not in the Russian catalogue (run make translations): {missing}"
    for message in russian:
        if not message.id or (message.context, message.id) not in in_code:
            continue
        assert message.string and not message.fuzzy, f"untranslated: {message.id!r}"
        assert set(PLACEHOLDER.findall(message.id)) == set(PLACEHOLDER.findall(message.string)), \
            f"placeholders differ: {message.id!r}"


def test_gettext_works_in_the_worker_outside_any_request(app):
    # The worker has an app context but no request (delivery reasons, adapter messages).
    from flask_babel import gettext
    assert gettext("Could not deliver the message because of an internal error.").startswith("Could not")
