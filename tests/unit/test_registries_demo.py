"""`idp demo seed` loads the demo company directory through the import service and names the
tax office emulator's demo numbers (issue 7, registries)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from idp.cli import main
from idp.extensions import db
from idp.services.company_lookup import lookup_business


def test_demo_seed_loads_the_directory_and_prints_the_emulators_numbers(app: Any,
                                                                          tmp_path: Path) -> None:
    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": app.config["IDP_SETTINGS"]["database_url"]}
    args = ["demo", "seed", "--clients-file", str(tmp_path / "clients.json")]
    first = CliRunner().invoke(main, args, env=env)
    assert first.exit_code == 0, first.output
    assert "company directory: 8 demo companies" in first.stdout
    assert "휴업 101-86-00011; 폐업 101-86-00025; 미등록 101-86-00030" in first.stdout
    again = json.loads(CliRunner().invoke(main, [*args, "--json"], env=env).stdout)
    assert again["company_directory"]["added"] == 0  # an upsert: re-seeding changes nothing
    assert again["company_directory"]["unchanged"] == 8
    p = app.extensions["idp"]
    with app.test_request_context():
        def outcome(number: str) -> str:
            return lookup_business(db.session, p.business_registry, p.company_directory,
                                   number).outcome

        assert outcome("6638501035") == "registered"  # the demo company
        found = lookup_business(db.session, p.business_registry, p.company_directory,
                                "1208200275")
        assert found.outcome == "directory" and found.record is not None
        assert found.record.name_ko == "대한무역투자진흥공사" and found.record.ceo_ko == "유정열"
        assert outcome("101-86-00011") == "suspended"
        assert outcome("101-86-00025") == "closed"  # in the directory too: closed comes first
        assert outcome("105-87-00005") == "not_found"
