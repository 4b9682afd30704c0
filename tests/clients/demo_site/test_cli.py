"""The command line (clients/demo_site/cli.py): where a site finds its client registration."""

from __future__ import annotations

import json

from clients.demo_site.cli import load_client_config, main


def test_client_config_comes_from_the_file_then_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "demo_clients.json"
    path.write_text(json.dumps({"site2": {"client_id": "c2", "client_secret": "s2"}}))
    monkeypatch.delenv("DEMO_CLIENT_ID", raising=False)
    monkeypatch.delenv("DEMO_CLIENT_SECRET", raising=False)
    assert load_client_config(2, str(path)) == {"client_id": "c2", "client_secret": "s2"}
    assert load_client_config(1, str(path)) == {}
    monkeypatch.setenv("DEMO_CLIENT_SECRET", "from-env")
    assert load_client_config(2, str(path))["client_secret"] == "from-env"


def test_main_refuses_to_start_without_a_client(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DEMO_CLIENT_ID", raising=False)
    monkeypatch.delenv("DEMO_CLIENT_SECRET", raising=False)
    assert main(["--site", "1", "--config", str(tmp_path / "missing.json")]) == 2
    assert "idp demo seed" in capsys.readouterr().err
