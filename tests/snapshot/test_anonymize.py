"""Transforms, policy files and the PII scan: keyed, deterministic, type-fitting, and loud on mistakes."""

from __future__ import annotations

import json

import psycopg2
import pytest
import yaml

from rehearse.anonymize.detect import classify, value_kind
from rehearse.anonymize.policy import load_policy, uncovered_columns
from rehearse.anonymize.scan import scan_source
from rehearse.anonymize.transform import (Anonymizer, ColumnType, Rule, copy_decode, copy_encode, format_array,
                                          parse_array)
from rehearse.errors import PolicyError

from snapshot_shop import PLANTED


@pytest.fixture(scope="module")
def anon():
    return Anonymizer(b"unit-secret")


def test_same_input_same_output_across_instances_different_secret_differs(anon):
    other_same = Anonymizer(b"unit-secret")
    other_secret = Anonymizer(b"another-secret")
    for kind in ("email", "name", "phone", "ssn", "iban", "street", "username", "uuid"):
        a = anon.fake(kind, "value-1")
        assert a == other_same.fake(kind, "value-1")
        assert a != anon.fake(kind, "value-2") or kind in ("iban",)
    assert anon.fake("email", "x@y.com") != other_secret.fake("email", "x@y.com")


def test_email_fakes_are_unique_and_safe(anon):
    outs = {anon.fake("email", f"user{i}@corp.com") for i in range(20000)}
    assert len(outs) == 20000
    assert all(o.split("@")[1].startswith("example.") for o in outs)


def test_values_fit_varchar_and_unique_tag_survives(anon):
    fn = anon.compile(Rule("fake", "email"), ColumnType(max_length=30, unique=True))
    a, b = fn("first.person@corp.com"), fn("second.person@corp.com")
    assert len(a) <= 30 and len(b) <= 30 and a != b and "@example." in a
    name = anon.compile(Rule("fake", "name"), ColumnType(max_length=5))("Ada Lovelace")
    assert len(name) <= 5


def test_arrays_json_mask_shift_scrub(anon):
    arr = anon.compile(Rule("fake", "email"), ColumnType(is_array=True))
    out = parse_array(arr('{a@b.com,NULL,"c d@e.com"}'))
    assert out[1] is None and out[0] == anon.fake("email", "a@b.com")
    doc = anon.compile(Rule("json", paths={"$.email": Rule("fake", "email"), "$.items[*].phone": Rule("null")}),
                       ColumnType(is_json=True))
    result = json.loads(doc('{"email": "a@b.com", "items": [{"phone": "555"}, {"phone": "556"}], "n": 1}'))
    assert result == {"email": anon.fake("email", "a@b.com"), "items": [{"phone": None}, {"phone": None}], "n": 1}
    assert anon.compile(Rule("mask", options={"keep_last": 4}))("4111111111111111") == "************1111"
    shifted = anon.compile(Rule("shift_date", options={"days": 10}))("1990-05-17 10:00:00+00")
    assert shifted != "1990-05-17 10:00:00+00" and shifted.endswith(" 10:00:00+00")
    text = anon.compile(Rule("scrub"))("mail me: ada@corp.com or call +1 415 555 0199, ssn 078-05-1120")
    assert "ada@corp.com" not in text and "078-05-1120" not in text and text.startswith("mail me: ")


def test_copy_text_escapes_round_trip():
    for value in ("plain", "tab\there", "new\nline", "back\\slash", "cr\r"):
        encoded = copy_encode(value)
        assert "\t" not in encoded and "\n" not in encoded
        assert copy_decode(encoded) == value
    assert parse_array(format_array(['a"b', "c\\d", None, "e,f"])) == ['a"b', "c\\d", None, "e,f"]


def test_detectors_recognise_planted_kinds():
    assert value_kind(PLANTED["email"]) == "email"
    assert value_kind(PLANTED["ssn"]) == "ssn"
    assert value_kind(PLANTED["iban"]) == "iban"
    assert value_kind(PLANTED["card"]) == "credit_card"
    assert value_kind(PLANTED["ip"]) == "ipv4"
    assert value_kind(PLANTED["phone"]) == "phone"
    assert value_kind("12 Baker Street") == "street"
    assert value_kind("shipped") is None
    assert classify("body", "text", "S", ["hi, write to a@b.com"] * 10).rule.strategy == "scrub"
    assert not classify("status", "text", "S", ["new", "shipped"]).personal


def test_policy_errors_name_file_line_and_key(tmp_path):
    bad = tmp_path / "rehearse.yaml"
    bad.write_text("version: 1\ntables:\n  customers:\n    columns:\n      email: fake:emial\n")
    with pytest.raises(PolicyError) as exc:
        load_policy(bad)
    msg = exc.value.one_line()
    assert f"{bad}:5" in msg and "tables.customers.columns.email" in msg and "emial" in msg
    bad.write_text("tables:\n  customers:\n    columns:\n      ssn: {strategy: mask, keep_lst: 4}\n")
    with pytest.raises(PolicyError, match=r"rehearse.yaml:4: .*keep_lst"):
        load_policy(bad)
    bad.write_text("tables:\n  customers:\n    colums: {}\n")
    with pytest.raises(PolicyError, match=r":3: tables.customers.colums"):
        load_policy(bad)
    bad.write_text("tables: [\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(bad)
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "missing.yaml")


def test_policy_from_pyproject(tmp_path):
    py = tmp_path / "pyproject.toml"
    py.write_text('[project]\nname = "x"\n\n[tool.rehearse.anonymize.tables."public.customers".columns]\n'
                  'email = "fake:email"\nssn = { strategy = "mask", keep_last = 4 }\n')
    policy = load_policy(py)
    assert policy.rule_for("public", "customers", "email").kind == "email"
    assert policy.rule_for("public", "customers", "ssn").options["keep_last"] == 4
    py.write_text('[tool.rehearse.anonymize.tables.customers.columns]\nemail = "nonsense"\n')
    with pytest.raises(PolicyError, match=r"pyproject.toml:2: .*email.*unknown strategy"):
        load_policy(py)


def test_policy_hash_changes_with_rules(tmp_path, policy_file):
    a = load_policy(policy_file).digest
    policy_file.write_text(policy_file.read_text().replace("fake:phone", "null"))
    assert load_policy(policy_file).digest != a


def test_scan_finds_planted_pii_and_its_draft_runs_strict(shop, tmp_path):
    from rehearse.snapshot.pull import pull_snapshot

    _, url, dsn = shop
    text = scan_source(url, sample_rows=500)
    data = yaml.safe_load(text)
    cols = data["tables"]["public.customers"]["columns"]
    assert cols["email"] == "fake:email"
    assert cols["phone"] == "fake:phone"
    assert cols["ssn"] == "fake:ssn"
    assert cols["iban"] == "fake:iban"
    assert cols["card_number"] == "fake:credit_card"
    assert cols["full_name"] == "fake:name"
    assert cols["last_ip"] == "fake:ipv4"
    assert cols["aliases"] == "fake:email"
    assert cols["profile"]["strategy"] == "json" and "$.email" in cols["profile"]["paths"]
    assert cols["notes"] == "scrub"
    assert data["tables"]["public.orders"]["columns"]["customer_email"] == "fake:email"
    assert data["tables"]["public.newsletter_signups"]["columns"]["contact"] == "fake:email"
    assert "# " in text.splitlines()[10]  # every column line says why
    draft = tmp_path / "draft.yaml"
    draft.write_text(text)
    assert uncovered_columns(load_policy(draft), dsn) == []
    snap = pull_snapshot(url, tmp_path / "strict", policy_path=draft, strict=True)
    assert snap.leak_scan["leaks"] == 0


def test_uncovered_columns_reports_what_a_migration_added(shop, policy_file):
    _, _, dsn = shop
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE customers ADD COLUMN nickname text")
    missing = uncovered_columns(load_policy(policy_file), dsn)
    assert "public.customers.nickname" in missing
    assert "public.customers.email" not in missing
    assert "public.newsletter_signups.contact" in missing
