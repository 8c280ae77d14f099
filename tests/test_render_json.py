"""The JSON view: every key of spec/plan.md, exact numbers, integers where whole, text kept verbatim."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction

import pytest

from ketaplan.errors import UsageError
from ketaplan.model.plan import Factor
from ketaplan.render import renderer_for
from ketaplan.render.json import JsonRenderer, plan_json_text, plan_to_dict
from ketaplan.render.text import TextRenderer
from ketaplan.signing import digest_of
from tests.plan_fixtures import ALL_PLANS, ELIGIBLE, EXCLUDED, HOSTILE, HOSTILE_MEDICATION, NEEDS_REVIEW, RATE

SPEC_TOP_KEYS = [
    "format", "status", "verdict", "patient", "protocol", "dosing", "sessions", "findings",
    "holds", "checklist", "signoff", "generated",
]
SPEC_PATIENT_KEYS = [
    "id", "age", "sex", "height_cm", "weight_kg", "bmi", "ideal_weight_kg", "adjusted_weight_kg",
    "lean_weight_kg",
]
SPEC_DOSING_KEYS = ["weight_basis", "dosing_weight_kg", "factors", "cap_mg", "round_to_mg"]
SPEC_SESSION_KEYS = [
    "number", "phase", "date", "weekday", "mg_per_kg", "raw_dose_mg", "dose_mg", "duration_min",
    "draw_ml", "concentration_mg_per_ml", "volume_ml", "pump_ml_per_h", "checks",
]
SPEC_FINDING_KEYS = ["rule", "effect", "rule_effect", "unknown", "message", "evidence", "source"]
SPEC_HOLD_KEYS = ["rule", "medications", "instruction", "to_confirm"]
SPEC_GENERATED_KEYS = ["at", "by", "vocabulary", "holidays", "patient_sha256", "protocol_sha256", "start"]

NUMBER = (int, float)


def _in_order(keys: list[str], expected: list[str]) -> bool:
    """The expected keys are all there, in the spec's order (added keys may follow or sit between)."""
    positions = [keys.index(k) for k in expected if k in keys]
    return len(positions) == len(expected) and positions == sorted(positions)


def _loaded(plan) -> dict:
    return json.loads(JsonRenderer().render(plan))


def _is_number(value) -> bool:
    return isinstance(value, NUMBER) and not isinstance(value, bool)


# ------------------------------------------------------------------ keys and types


@pytest.mark.parametrize("name", sorted(ALL_PLANS))
def test_top_level_keys_are_the_specs_in_its_order(name):
    assert list(plan_to_dict(ALL_PLANS[name])) == SPEC_TOP_KEYS


@pytest.mark.parametrize("name", sorted(ALL_PLANS))
def test_every_nested_spec_key_is_present_in_order(name):
    d = _loaded(ALL_PLANS[name])
    assert d["format"] == "ketaplan-plan/1"
    assert d["status"] == "draft"
    assert _in_order(list(d["patient"]), SPEC_PATIENT_KEYS)
    assert _in_order(list(d["protocol"]), ["id", "version", "sha256"])
    if d["dosing"] is not None:
        assert _in_order(list(d["dosing"]), SPEC_DOSING_KEYS)
    for session in d["sessions"]:
        assert _in_order(list(session), SPEC_SESSION_KEYS)
    for finding in d["findings"]:
        assert list(finding) == SPEC_FINDING_KEYS
    for hold in d["holds"]:
        assert _in_order(list(hold), SPEC_HOLD_KEYS)
    assert list(d["checklist"]) == ["pre", "during", "after"]
    assert list(d["signoff"]) == ["acknowledge"]
    assert list(d["generated"]) == SPEC_GENERATED_KEYS


@pytest.mark.parametrize("name", sorted(ALL_PLANS))
def test_every_value_has_the_specs_type(name):
    d = _loaded(ALL_PLANS[name])
    p = d["patient"]
    assert isinstance(p["id"], str) and isinstance(p["age"], int) and p["sex"] in ("female", "male")
    for key in ("height_cm", "weight_kg", "bmi", "lean_weight_kg"):
        assert _is_number(p[key]), key
    for key in ("ideal_weight_kg", "adjusted_weight_kg"):
        assert p[key] is None or _is_number(p[key]), key
    assert d["verdict"] in ("eligible", "needs-review", "excluded")
    for s in d["sessions"]:
        assert isinstance(s["number"], int) and isinstance(s["duration_min"], int)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", s["date"])
        assert s["weekday"] in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
        for key in ("raw_dose_mg", "dose_mg", "draw_ml", "concentration_mg_per_ml", "volume_ml", "pump_ml_per_h"):
            assert s[key] is None or _is_number(s[key]), key
        assert all(isinstance(c, str) for c in s["checks"])
    for f in d["findings"]:
        assert isinstance(f["unknown"], bool)
        assert all(isinstance(e, str) for e in f["evidence"])
        assert f["source"] is None or isinstance(f["source"], str)
    for h in d["holds"]:
        assert isinstance(h["to_confirm"], bool) and all(isinstance(m, str) for m in h["medications"])
    assert all(isinstance(rule, str) for rule in d["signoff"]["acknowledge"])


@pytest.mark.parametrize("name", sorted(ALL_PLANS))
def test_no_number_is_written_with_a_trailing_point_zero(name):
    text = JsonRenderer().render(ALL_PLANS[name])
    assert re.search(r":\s*-?\d+\.0\s*[,\n\]}]", text) is None


# ------------------------------------------------------------------ the spec's example plan


def test_patient_weights_and_bmi_are_given_to_one_decimal():
    assert _loaded(ELIGIBLE)["patient"] == {
        "id": "P-0107", "age": 45, "sex": "female", "height_cm": 165, "weight_kg": 82.5, "bmi": 30.3,
        "ideal_weight_kg": 56.9, "adjusted_weight_kg": 67.1, "lean_weight_kg": 47.3,
        "weighed_on": "2026-11-20",
    }


def test_a_height_of_5_ft_10_in_is_given_as_177_8_cm():
    assert _loaded(EXCLUDED)["patient"]["height_cm"] == 177.8


def test_session_one_of_an_induction_plan_matches_the_spec_example():
    assert _loaded(ELIGIBLE)["sessions"][0] == {
        "number": 1, "phase": "induction", "date": "2026-12-01", "weekday": "Tue",
        "mg_per_kg": 0.5, "raw_dose_mg": 41.25, "dose_mg": 41, "duration_min": 40,
        "draw_ml": 4.1, "concentration_mg_per_ml": 0.41, "volume_ml": 100,
        "pump_ml_per_h": 150, "checks": [],
        "rounded_mg": 41, "capped_by": None, "effective_mg_per_kg_actual": 0.497, "not_drafted_because": None,
        "mg_per_kg_given": 0.49697,
    }


def test_whole_numbers_are_json_integers_in_the_text():
    text = JsonRenderer().render(ELIGIBLE)
    assert '"pump_ml_per_h": 150,' in text
    assert '"volume_ml": 100,' in text
    assert '"dose_mg": 41,' in text
    assert '"height_cm": 165,' in text
    assert "150.0" not in text and "41.0" not in text


def test_dosing_on_actual_weight_with_the_protocol_cap():
    assert _loaded(ELIGIBLE)["dosing"] == {
        "weight_basis": "actual", "dosing_weight_kg": 82.5, "factors": [], "cap_mg": 60, "round_to_mg": 1,
        "mode": "mg_per_kg", "basis_rule": None, "cap_rule": None, "max_mg_per_hour": None,
    }


def test_a_dose_factor_is_given_with_its_rule():
    dosing = ELIGIBLE.dosing._replace(factors=(Factor(rule="ADJ-AGE-65", factor=Fraction(3, 4)),))
    plan = ELIGIBLE._replace(dosing=dosing)
    assert _loaded(plan)["dosing"]["factors"] == [{"rule": "ADJ-AGE-65", "factor": 0.75}]


def test_a_hold_lists_its_medications_and_instruction():
    assert _loaded(ELIGIBLE)["holds"] == [
        {
            "rule": "HOLD-BENZODIAZEPINE", "medications": ["lorazepam"],
            "instruction": "Omit the evening before and the morning of each session if clinically safe",
            "to_confirm": False, "unknown_because": [],
        }
    ]


def test_checklists_and_a_session_check_are_carried_over():
    d = _loaded(ELIGIBLE)
    assert d["checklist"] == {
        "pre": ["Written informed consent on file", "Nil by mouth for at least 4 hours"],
        "during": ["Blood pressure, heart rate and SpO2 every 15 minutes"],
        "after": ["Observe for at least 60 minutes", "No driving until the next day after sleep"],
    }
    assert d["sessions"][5]["checks"] == ["Weigh again and re-draft before this session"]


def test_provenance_gives_versions_hashes_and_start():
    assert _loaded(ELIGIBLE)["generated"] == {
        "at": "2026-11-27T09:00:00Z", "by": "ketaplan 0.1.0", "vocabulary": "2026.11", "holidays": "0.109",
        "patient_sha256": ELIGIBLE.generated.patient_sha256,
        "protocol_sha256": ELIGIBLE.generated.protocol_sha256, "start": "2026-12-01",
    }


def test_generated_at_is_written_in_utc_to_the_second():
    london_winter = timezone(timedelta(hours=1))
    at = datetime(2026, 11, 27, 10, 0, 5, 987654, tzinfo=london_winter)
    plan = ELIGIBLE._replace(generated=ELIGIBLE.generated._replace(at=at))
    assert _loaded(plan)["generated"]["at"] == "2026-11-27T09:00:05Z"


# ------------------------------------------------------------------ needs review, short stature


def test_an_exclude_rule_that_could_not_be_checked_is_a_review_finding():
    assert _loaded(NEEDS_REVIEW)["findings"][0] == {
        "rule": "EXCL-PSYCHOSIS", "effect": "review", "rule_effect": "exclude", "unknown": True,
        "message": "History of psychosis.", "evidence": ["could not be checked: conditions are not recorded"],
        "source": "APA consensus 2017",
    }


def test_short_stature_sessions_have_no_dose_and_no_volumes():
    session = _loaded(NEEDS_REVIEW)["sessions"][0]
    assert session["mg_per_kg"] == 0.5
    for key in ("raw_dose_mg", "dose_mg", "draw_ml", "concentration_mg_per_ml", "volume_ml", "pump_ml_per_h"):
        assert session[key] is None, key


def test_short_stature_has_no_dosing_weight_and_no_ideal_weight():
    d = _loaded(NEEDS_REVIEW)
    assert d["dosing"]["dosing_weight_kg"] is None
    assert d["patient"]["ideal_weight_kg"] is None and d["patient"]["adjusted_weight_kg"] is None


def test_a_hold_to_confirm_says_what_is_unknown():
    assert _loaded(NEEDS_REVIEW)["holds"][0]["to_confirm"] is True
    assert _loaded(NEEDS_REVIEW)["holds"][0]["unknown_because"] == ["medications are not recorded"]


def test_acknowledge_lists_the_review_findings_of_the_plan():
    assert _loaded(NEEDS_REVIEW)["signoff"] == {"acknowledge": ["EXCL-PSYCHOSIS", "IDEAL-WEIGHT-SHORT-STATURE"]}


def test_acknowledge_is_taken_from_the_plan_as_given():
    plan = NEEDS_REVIEW._replace(acknowledge=("IDEAL-WEIGHT-SHORT-STATURE",))
    assert _loaded(plan)["signoff"]["acknowledge"] == ["IDEAL-WEIGHT-SHORT-STATURE"]


# ------------------------------------------------------------------ rate protocols


def test_a_rate_session_gives_the_hourly_rate_and_the_session_total():
    session = _loaded(RATE)["sessions"][0]
    assert session["mg_per_kg"] is None
    assert session["mg_per_kg_per_hour"] == 0.5
    assert session["raw_rate_mg_per_h"] == 36.25
    assert session["rate_mg_per_h"] == 36
    assert (session["raw_dose_mg"], session["dose_mg"], session["duration_min"]) == (145, 144, 240)
    assert (session["draw_ml"], session["concentration_mg_per_ml"], session["volume_ml"]) == (14.4, 1, 144)
    assert session["pump_ml_per_h"] == 36


def test_a_rate_capped_by_the_hourly_cap_names_it():
    session = _loaded(RATE)["sessions"][1]
    assert (session["rounded_rate_mg_per_h"], session["rate_mg_per_h"], session["dose_mg"]) == (43, 40, 160)
    assert session["capped_by"] == "dose.max_mg_per_hour"


def test_rate_dosing_gives_mode_and_hourly_cap():
    dosing = _loaded(RATE)["dosing"]
    assert (dosing["mode"], dosing["max_mg_per_hour"], dosing["cap_mg"]) == ("mg_per_kg_per_hour", 40, 200)


def test_a_per_kg_plan_has_no_rate_keys():
    session = _loaded(ELIGIBLE)["sessions"][0]
    assert "mg_per_kg_per_hour" not in session and "rate_mg_per_h" not in session


# ------------------------------------------------------------------ excluded


def test_an_excluded_plan_has_no_sessions_and_null_dosing():
    d = _loaded(EXCLUDED)
    assert d["verdict"] == "excluded"
    assert d["sessions"] == []
    assert d["dosing"] is None
    assert d["signoff"]["acknowledge"] == ["REV-BP"]


# ------------------------------------------------------------------ text from the files


def test_hostile_patient_text_is_kept_verbatim():
    evidence = _loaded(HOSTILE)["findings"][0]["evidence"][0]
    assert evidence == f"medication '{HOSTILE_MEDICATION}' is not in the vocabulary"


def test_an_escape_character_is_written_as_a_json_escape():
    text = JsonRenderer().render(HOSTILE)
    assert "\x1b" not in text
    assert "\\u001b[31mred" in text


def test_c1_controls_and_bidi_overrides_are_escaped_but_read_back_the_same():
    sneaky = "lorazepam \x9b2J \u202eevil\u202c \u2028end"
    finding = HOSTILE.findings[0]._replace(evidence=(sneaky,))
    plan = HOSTILE._replace(findings=(finding,))
    text = JsonRenderer().render(plan)
    assert not any(ch in text for ch in "\x9b\u202e\u202c\u2028")
    assert "\\u009b2J \\u202eevil\\u202c \\u2028end" in text
    assert json.loads(text)["findings"][0]["evidence"] == [sneaky]


def test_non_ascii_text_is_written_as_itself():
    finding = ELIGIBLE.findings[0]._replace(message="Prüfung — ≥ 60 Jahre")
    text = JsonRenderer().render(ELIGIBLE._replace(findings=(finding,)))
    assert '"message": "Prüfung — ≥ 60 Jahre"' in text


# ------------------------------------------------------------------ the document


@pytest.mark.parametrize("name", sorted(ALL_PLANS))
def test_json_round_trips_to_the_plan_dict(name):
    loaded = _loaded(ALL_PLANS[name])
    loaded.pop("digest")
    assert loaded == plan_to_dict(ALL_PLANS[name])


def test_the_document_is_indented_by_two_and_ends_with_a_newline():
    text = JsonRenderer().render(ELIGIBLE)
    assert text.startswith('{\n  "format": "ketaplan-plan/1",\n  "status": "draft",\n')
    assert text.endswith("}\n") and not text.endswith("\n\n")


@pytest.mark.parametrize("name", sorted(ALL_PLANS))
def test_a_draft_carries_the_digest_of_its_own_content(name):
    loaded = _loaded(ALL_PLANS[name])
    assert list(loaded)[-1] == "digest"
    assert loaded["digest"] == digest_of(loaded)


def test_the_digest_does_not_change_with_the_time_of_drafting():
    later = ELIGIBLE.generated._replace(at=datetime(2026, 11, 28, 17, 30, tzinfo=UTC))
    assert _loaded(ELIGIBLE)["digest"] == _loaded(ELIGIBLE._replace(generated=later))["digest"]


def test_the_command_lines_json_is_the_renderers():
    assert plan_json_text(RATE) == JsonRenderer().render(RATE)


# ------------------------------------------------------------------ the interface


def test_renderer_for_json_gives_the_json_renderer():
    assert isinstance(renderer_for("json"), JsonRenderer)


def test_renderer_for_text_passes_colour_and_width():
    renderer = renderer_for("text", color=True, width=72)
    assert isinstance(renderer, TextRenderer)
    assert (renderer.color, renderer.width) == (True, 72)


def test_renderer_for_an_unknown_format_is_a_usage_error():
    with pytest.raises(UsageError, match="'pdf'"):
        renderer_for("pdf")


def test_importing_the_renderers_does_not_import_rich():
    code = (
        "import sys, ketaplan.render, ketaplan.render.json, ketaplan.render.text; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'pydantic', 'holidays')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

