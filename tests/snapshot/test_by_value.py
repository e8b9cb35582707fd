"""Finding personal data by value: name dictionaries, the ambiguous `name` columns, the value dictionary."""

from __future__ import annotations

import pytest

from rehearse.anonymize.detect import classify
from rehearse.anonymize.dictionary import ValueDictionary
from rehearse.anonymize.names import find_name_pairs, looks_like_person_name, name_evidence
from rehearse.anonymize.transform import Anonymizer, Rule

PERSONS = ["Anna Schmidt", "Jonathan Walker", "Maria Garcia", "Pierre Dubois", "Giulia Romano", "Lars Johansson"]


@pytest.mark.parametrize("value", ["Anna Schmidt", "Anna M. Schmidt", "Schmidt, Anna", "MARIA GARCIA"])
def test_person_names_are_found(value):
    assert looks_like_person_name(value)


@pytest.mark.parametrize("value", ["Germany", "Costa Rica", "New Zealand", "Widget Pro", "default", "Blue Kettle",
                                   "high-priority", "Standing Desk", ""])
def test_names_of_things_are_not_person_names(value):
    assert not looks_like_person_name(value)


@pytest.mark.parametrize("column", ["name", "title", "label", "c2", "contact"])
def test_a_column_of_person_names_is_personal_whatever_its_name(column):
    v = classify(column, "text", "S", PERSONS * 5)
    assert v.personal and v.rule.strategy == "fake" and v.rule.kind == "name"
    assert "30 of 30 sampled values (100%)" in v.why  # the hit rate is the evidence


@pytest.mark.parametrize("values", [["Germany", "France", "Jordan", "Chad", "Georgia"],
                                    ["Widget Pro", "Blue Kettle", "Desk Lamp"], ["default", "emails", "billing"]])
@pytest.mark.parametrize("column", ["name", "title", "label"])
def test_a_name_column_of_things_is_kept_and_says_why(column, values):
    v = classify(column, "text", "S", values * 3)
    assert not v.personal and v.rule.strategy == "keep"
    assert "kept so joins on them hold" in v.why and "0%" in v.why


def test_free_text_name_pairs():
    text = "Called Anna Schmidt on Monday; Dr. Pierre K. Dubois wrote back. New Zealand office."
    assert [text[a:b] for a, b in find_name_pairs(text)] == ["Anna Schmidt", "Pierre K. Dubois"]


def test_scrub_replaces_names_with_the_name_fake(tmp_path, monkeypatch):
    monkeypatch.setenv("REHEARSE_CACHE_DIR", str(tmp_path))
    anon = Anonymizer(b"k" * 32, pool_size=200)
    out = anon.compile(Rule("scrub"))("Called Anna Schmidt about it")
    assert "Anna Schmidt" not in out
    assert out == f"Called {anon.fake('name', 'Anna Schmidt')} about it"


def test_value_dictionary_replaces_whole_words_only_in_one_pass_per_column():
    d = ValueDictionary(lambda vs, k: [f"<{k}>"] * len(vs))
    d.add(["Anna Schmidt", "anna@corp.example", "Li"], "email")
    d.build()
    assert d.values == 2  # "Li" is too short to be evidence
    fields = ["Called ANNA SCHMIDT", "mail anna@corp.example.", "Annabel Schmidtke", "\\N", "x\\tAnna Schmidt"]
    out, changed = d.clean_many(fields)
    assert out == ["Called <email>", "mail <email>.", "Annabel Schmidtke", "\\N", "x\\t<email>"]
    assert changed == 3


def test_value_dictionary_past_its_cap_keeps_hashes_and_still_finds_values():
    d = ValueDictionary(lambda vs, k: ["<x>"] * len(vs), cap=1)
    d.add(["Anna Schmidt", "Maria Garcia", "maria.garcia@corp.example"], "name")
    d.build()
    assert d.overflow == 2
    assert d.clean("Called Maria Garcia at maria.garcia@corp.example re Anna Schmidt") == "Called <x> at <x> re <x>"


def test_value_dictionary_counts_a_repeated_value_once_across_its_cap():
    # the pull reads columns without DISTINCT: repeats of automaton values past the cap are no new values
    d = ValueDictionary(lambda vs, k: ["<x>"] * len(vs), cap=2)
    d.add(["Anna Schmidt", "Maria Garcia", "Anna Schmidt"], "name")
    d.add(["maria garcia", "Pierre Dubois", "Pierre Dubois"], "name")
    d.build()
    assert (d.values, d.overflow) == (3, 1)
    assert d.clean("Anna Schmidt, Maria Garcia and Pierre Dubois") == "<x>, <x> and <x>"
    only_repeats = ValueDictionary(lambda vs, k: ["<x>"] * len(vs), cap=1)
    only_repeats.add(["Anna Schmidt", "anna schmidt"], "name")
    only_repeats.build()
    assert (only_repeats.values, only_repeats.overflow) == (1, 0)
    assert only_repeats.clean("Called ANNA SCHMIDT") == "Called <x>"


def test_name_evidence_for_single_names():
    assert name_evidence(["Anna", "Pierre", "Maria", "Giulia"]).kind == "first_name"
    assert name_evidence(["summer", "may", "bill"]).kind is None  # ordinary words are no evidence


def test_value_dictionary_drops_repeated_hashes_as_it_reads(monkeypatch):
    # without DISTINCT a column's values repeat: memory must follow the distinct values
    from rehearse.anonymize import dictionary

    monkeypatch.setattr(dictionary, "COMPACT_AT", 8)
    d = ValueDictionary(lambda vs, k: ["<x>"] * len(vs), cap=1)
    d.add(["Anna Schmidt"], "name")
    for _ in range(50):
        d.add(["Maria Garcia", "Pierre Dubois", "maria garcia"], "name")
    assert len(d._overflow["name"]) <= 8
    d.build()
    assert (d.values, d.overflow) == (3, 2)
    assert d.clean("Maria Garcia met Pierre Dubois and Anna Schmidt") == "<x> met <x> and <x>"


def test_the_automaton_takes_what_the_memory_budget_leaves_after_the_hashes():
    from rehearse.anonymize.dictionary import (AUTOMATON_BYTES, AUTOMATON_CAP, HASH_BYTES, MEMORY_BUDGET,
                                               MIN_AUTOMATON_CAP, automaton_cap)

    # a small database keeps every value in the automaton
    assert automaton_cap(0) == automaton_cap(400_000) == AUTOMATON_CAP
    # past a few million values it shrinks, never below the floor, and never grows with the values
    caps = [automaton_cap(n) for n in (1_000_000, 4_000_000, 8_000_000, 16_000_000, 100_000_000)]
    assert caps == sorted(caps, reverse=True) and caps[-1] == MIN_AUTOMATON_CAP and caps[1] < AUTOMATON_CAP
    # within the budget: automaton entries plus the hashes of the rest
    n = 8_000_000
    assert automaton_cap(n) * AUTOMATON_BYTES + (n - AUTOMATON_CAP) * HASH_BYTES <= MEMORY_BUDGET
