"""Regenerate migration 0001 from campaigns/storage/tables.py.

Only while the schema is unreleased: once a release has shipped, add new revisions instead.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from campaigns.storage.migrate import alembic_config

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = ROOT / "campaigns" / "storage" / "migrations" / "versions"

for old in VERSIONS.glob("0001_*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as tmp:
    command.revision(
        alembic_config(f"sqlite+aiosqlite:///{tmp}/gen.db"),
        message="initial schema",
        autogenerate=True,
        rev_id="0001",
    )
(new,) = VERSIONS.glob("0001_*.py")
text = new.read_text().replace("astext_type=Text()", "astext_type=sa.Text()")
text = "\n".join(line for line in text.splitlines() if "# ###" not in line) + "\n"
new.write_text(text)
ruff = [sys.executable, "-m", "ruff"]
subprocess.run([*ruff, "check", "--fix", "-q", str(new)], check=False)
subprocess.run([*ruff, "format", "-q", str(new)], check=True)
print(new)
