"""Sign-off: what sign refuses, what it records, and what verify finds after an edit."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ketaplan.errors import ExitStatus, RefusedError
from ketaplan.signing import digest_of, sign, verify, with_digest

NOW = datetime(2026, 11, 27, 9, 30, 15, 123456, tzinfo=UTC)
REASON_BP = "BP 128/82 taken in clinic on 2026-11-26"
REASON_WEIGHT = "Weighed today: 82.5 kg"


def _plan(**changes) -> dict:
    """A needs-review induction draft shaped as the spec's JSON, without a digest."""
    plan = {
        "format": "ketaplan-plan/1",
        "status": "draft",
        "verdict": "needs-review",
        "patient": {
            "id": "P-0107", "age": 45, "sex": "female", "height_cm": 165, "weight_kg": 82.5,
            "bmi": 30.3, "ideal_weight_kg": 56.9, "adjusted_weight_kg": 67.1,
            "lean_weight_kg": 47.3,
        },
        "protocol": {"id": "trd-iv-induction", "version": "2026.11", "sha256": "ab" * 32},
        "dosing": {
            "weight_basis": "actual", "dosing_weight_kg": 82.5, "factors": [],
            "cap_mg": 60, "round_to_mg": 1,
        },
        "sessions": [
            {
                "number": n, "phase": "induction", "date": day, "weekday": wd,
                "mg_per_kg": 0.5, "raw_dose_mg": 41.25, "dose_mg": 41, "duration_min": 40,
                "draw_ml": 4.1, "concentration_mg_per_ml": 0.41, "volume_ml": 100,
                "pump_ml_per_h": 150, "checks": [],
            }
            for n, day, wd in ((1, "2026-12-01", "Tue"), (2, "2026-12-03", "Thu"))
        ],
        "findings": [
            {
                "rule": "REV-BP", "effect": "review", "rule_effect": "review", "unknown": True,
                "message": "Baseline blood pressure at or above 160/100.",
                "evidence": ["could not be checked: blood_pressure is missing"], "source": None,
            },
            {
                "rule": "WEIGHT-OUT-OF-DATE", "effect": "review", "rule_effect": "review",
                "unknown": False, "message": "The weight is older than 30 days.",
                "evidence": ["weighed on 2026-10-01, 61 days before session 1"], "source": None,
            },
            {
                "rule": "NOTE-SSRI", "effect": "note", "rule_effect": "note", "unknown": False,
                "message": "On an SSRI.", "evidence": ["sertraline"], "source": None,
            },
        ],
        "holds": [],
        "checklist": {"pre": ["Consent on file"], "during": ["BP every 15 min"], "after": []},
        "signoff": {"acknowledge": ["REV-BP", "WEIGHT-OUT-OF-DATE"]},
        "generated": {
            "at": "2026-11-27T09:00:00Z", "by": "ketaplan 0.1.0", "vocabulary": "2026.11",
            "holidays": "0.109", "patient_sha256": "cd" * 32, "protocol_sha256": "ab" * 32,
            "start": "2026-12-01",
        },
    }
    plan.update(changes)
    return plan


def _draft(**changes) -> dict:
    return with_digest(_plan(**changes))


ACKS = {"REV-BP": REASON_BP, "WEIGHT-OUT-OF-DATE": REASON_WEIGHT}


def _signed() -> dict:
    return sign(_draft(), clinician="Dr A. Osei", registration="GMC 7654321", acks=ACKS, now=NOW)


def _refusal(plan: dict, **overrides) -> RefusedError:
    kwargs = {"clinician": "Dr A. Osei", "registration": "GMC 7654321", "acks": ACKS, "now": NOW}
    kwargs.update(overrides)
    with pytest.raises(RefusedError) as caught:
        sign(plan, **kwargs)
    return caught.value


# ------------------------------------------------------------------ digest


def test_digest_is_sha256_over_the_canonical_json():
    assert digest_of({"b": 1, "a": "x"}) == (
        "sha256:" + __import__("hashlib").sha256(b'{"a":"x","b":1}').hexdigest()
    )


def test_digest_ignores_the_time_the_plan_was_generated():
    later = _plan()
    later["generated"] = dict(later["generated"], at="2027-01-01T00:00:00Z")
    assert digest_of(later) == digest_of(_plan())


def test_digest_ignores_a_digest_already_present():
    assert digest_of(dict(_plan(), digest="sha256:00")) == digest_of(_plan())


def test_digest_changes_when_a_dose_changes():
    plan = _plan()
    plan["sessions"][0]["dose_mg"] = 42
    assert digest_of(plan) != digest_of(_plan())


def test_digest_is_the_same_whether_numbers_were_read_as_decimal_or_float():
    text = json.dumps(_plan())
    assert digest_of(json.loads(text, parse_float=Decimal)) == digest_of(json.loads(text))


def test_with_digest_adds_the_digest_and_leaves_the_input_alone():
    plan = _plan()
    drafted = with_digest(plan)
    assert "digest" not in plan
    assert drafted["digest"] == digest_of(plan)
    assert {k: v for k, v in drafted.items() if k != "digest"} == plan


# ------------------------------------------------------------------ sign


def test_sign_records_clinician_registration_utc_time_and_acknowledgements_in_plan_order():
    signed = sign(
        _draft(),
        clinician="  Dr A. Osei ",
        registration="GMC 7654321",
        acks={"WEIGHT-OUT-OF-DATE": REASON_WEIGHT, "REV-BP": REASON_BP},
        now=NOW.astimezone(timezone(timedelta(hours=-5))),
    )
    assert signed["format"] == "ketaplan-signed/1"
    assert signed["plan"] == _draft()
    assert signed["signoff"] == {
        "clinician": "Dr A. Osei",
        "registration": "GMC 7654321",
        "signed_at": "2026-11-27T09:30:15Z",
        "acknowledgements": [
            {"rule": "REV-BP", "reason": REASON_BP},
            {"rule": "WEIGHT-OUT-OF-DATE", "reason": REASON_WEIGHT},
        ],
    }


def test_signed_digest_covers_plan_and_signoff():
    signed = _signed()
    assert signed["digest"] == digest_of_body(signed)


def digest_of_body(signed: dict) -> str:
    import hashlib

    import rfc8785

    body = {"plan": signed["plan"], "signoff": signed["signoff"]}
    return "sha256:" + hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def test_signed_file_keeps_a_digest_per_part():
    parts = _signed()["parts"]
    assert {"plan.sessions", "plan.sessions[1]", "plan.findings[0]", "signoff.clinician"} <= set(parts)


def test_sign_does_not_alter_the_draft_it_was_given():
    draft = _draft()
    sign(draft, clinician="Dr A. Osei", registration="GMC 7654321", acks=ACKS, now=NOW)
    assert draft == _draft()


def test_an_eligible_plan_signs_without_acknowledgements():
    draft = _draft(verdict="eligible", signoff={"acknowledge": []})
    signed = sign(draft, clinician="Dr A. Osei", registration="GMC 7654321", acks={}, now=NOW)
    assert signed["signoff"]["acknowledgements"] == []


def test_refusal_exits_1():
    assert RefusedError.exit_status == ExitStatus.ATTENTION


def test_refuses_an_excluded_plan():
    error = _refusal(_draft(verdict="excluded", sessions=[], dosing=None))
    assert error.problems == [
        "the plan is excluded: no sessions or doses were drafted, so there is nothing to sign"
    ]


def test_refuses_a_missing_acknowledgement_and_names_every_one():
    error = _refusal(_draft(), acks={})
    assert error.problems == [
        "these needs-review findings are not acknowledged: REV-BP, WEIGHT-OUT-OF-DATE; "
        "acknowledge each with a reason"
    ]


def test_refuses_a_blank_reason():
    error = _refusal(_draft(), acks={"REV-BP": "   ", "WEIGHT-OUT-OF-DATE": REASON_WEIGHT})
    assert error.problems == ["the acknowledgement of REV-BP has an empty reason"]


def test_refuses_an_acknowledgement_of_a_finding_not_in_the_plan():
    error = _refusal(_draft(), acks=dict(ACKS, **{"REV-QTC": "ECG normal"}))
    assert error.problems == ["REV-QTC is not a finding of this plan, so it cannot be acknowledged"]


def test_refuses_an_acknowledgement_of_a_finding_that_needs_none():
    error = _refusal(_draft(), acks=dict(ACKS, **{"NOTE-SSRI": "noted"}))
    assert error.problems == [
        "NOTE-SSRI is a finding of this plan but needs no acknowledgement "
        "(its effect is 'note', not 'review')"
    ]


def test_refuses_a_dose_edited_after_drafting():
    draft = _draft()
    draft["sessions"][0]["dose_mg"] = 60
    error = _refusal(draft)
    assert error.problems == [
        "the plan was changed after it was drafted: its content no longer matches "
        f"its digest {draft['digest']}; draft it again from the patient and protocol files"
    ]


def test_refuses_a_plan_without_a_digest():
    error = _refusal(_plan())
    assert error.problems == [
        "the plan has no digest, so it cannot be shown to be the plan ketaplan drafted; "
        "draft it again with `ketaplan plan --format json`"
    ]


def test_refuses_a_plan_that_is_not_a_draft():
    error = _refusal(_draft(status="final"))
    assert error.problems == ["only a draft can be signed; this plan's status is 'final'"]


def test_refuses_a_blank_clinician_and_registration():
    error = _refusal(_draft(), clinician=" ", registration="")
    assert error.problems == [
        "the clinician's name is blank",
        "the clinician's registration number is blank",
    ]


def test_refuses_an_already_signed_plan():
    error = _refusal(_signed())
    assert error.problems == ["this plan is already signed; sign the draft plan instead"]


def test_refuses_something_that_is_not_a_plan():
    error = _refusal(["not", "a", "plan"])
    assert error.problems == ["the file does not hold a plan (a JSON object) to sign"]


def test_refusal_names_every_problem_at_once():
    error = _refusal(_draft(), acks={"REV-BP": ""}, clinician="")
    assert error.problems == [
        "these needs-review findings are not acknowledged: WEIGHT-OUT-OF-DATE; "
        "acknowledge each with a reason",
        "the acknowledgement of REV-BP has an empty reason",
        "the clinician's name is blank",
    ]
    assert str(error).startswith("cannot sign this plan:\n  - these needs-review findings")


def test_a_time_without_a_zone_is_a_programming_error():
    with pytest.raises(ValueError):
        sign(_draft(), clinician="Dr A", registration="1", acks=ACKS, now=datetime(2026, 11, 27))


# ------------------------------------------------------------------ verify


def _tampered(edit) -> list[str]:
    signed = _signed()
    edit(signed)
    return verify(json.loads(json.dumps(signed)))


def test_an_intact_signed_plan_verifies():
    assert verify(_signed()) == []


def test_verifies_after_a_round_trip_through_json_read_with_decimals():
    text = json.dumps(_signed())
    assert verify(json.loads(text, parse_float=Decimal)) == []


def test_an_edited_dose_is_named_by_its_session():
    problems = _tampered(lambda s: s["plan"]["sessions"][1].update(dose_mg=60))
    assert problems == [
        "the signed digest does not match the plan and sign-off",
        "the plan's own digest no longer matches its content (a dose, date or finding was changed)",
        "changed after signing: session 2 (its date, dose, volumes, rate or checks) [plan.sessions[1]]",
    ]


def test_an_edited_date_is_named_by_its_session():
    problems = _tampered(lambda s: s["plan"]["sessions"][0].update(date="2026-12-02"))
    assert problems[-1] == (
        "changed after signing: session 1 (its date, dose, volumes, rate or checks) [plan.sessions[0]]"
    )


def test_an_edited_finding_is_named():
    problems = _tampered(lambda s: s["plan"]["findings"][0].update(effect="note"))
    assert problems[-1] == (
        "changed after signing: finding 1, REV-BP (its effect, message or evidence) [plan.findings[0]]"
    )


def test_a_removed_finding_is_named():
    problems = _tampered(lambda s: s["plan"]["findings"].pop())
    assert problems[-1] == "removed after signing: finding 3 [plan.findings[2]]"


def test_an_edited_clinician_is_named():
    problems = _tampered(lambda s: s["signoff"].update(clinician="Dr B. Other"))
    assert problems == [
        "the signed digest does not match the plan and sign-off",
        "changed after signing: the clinician's name [signoff.clinician]",
    ]


def test_an_edited_signing_time_is_named():
    problems = _tampered(lambda s: s["signoff"].update(signed_at="2026-11-28T09:30:15Z"))
    assert problems[-1] == "changed after signing: the time of signing [signoff.signed_at]"


def test_an_edited_acknowledgement_reason_is_named():
    problems = _tampered(lambda s: s["signoff"]["acknowledgements"][1].update(reason="n/a"))
    assert problems[-1] == (
        "changed after signing: acknowledgement 2 and its reason [signoff.acknowledgements[1]]"
    )


def test_an_edited_signed_digest_is_named():
    problems = _tampered(lambda s: s.update(digest="sha256:" + "0" * 64))
    assert problems == [
        "the signed digest does not match the plan and sign-off",
        "the signed digest itself was changed [digest]: the plan and sign-off still match "
        "their per-part digests",
    ]


def test_an_edited_plan_digest_is_named():
    problems = _tampered(lambda s: s["plan"].update(digest="sha256:" + "0" * 64))
    assert problems[1:] == [
        "the plan's own digest no longer matches its content (a dose, date or finding was changed)",
        "changed after signing: the plan's own digest [plan.digest]",
    ]


def test_an_edited_generation_time_is_named():
    problems = _tampered(lambda s: s["plan"]["generated"].update(at="2026-11-20T09:00:00Z"))
    assert problems == [
        "the signed digest does not match the plan and sign-off",
        "changed after signing: the time the plan was drafted [plan.generated.at]",
    ]


def test_an_edited_part_map_is_reported_though_the_content_is_intact():
    def edit(signed):
        signed["parts"]["plan.verdict"] = "sha256:" + "0" * 64

    assert _tampered(edit) == [
        "the per-part digests were changed (plan.verdict); "
        "the plan and sign-off still match the signed digest"
    ]


def test_without_part_digests_the_change_is_still_detected():
    def edit(signed):
        del signed["parts"]
        signed["plan"]["sessions"][0]["dose_mg"] = 60

    assert _tampered(edit) == [
        "the signed digest does not match the plan and sign-off",
        "the plan's own digest no longer matches its content (a dose, date or finding was changed)",
        "the file keeps no per-part digests, so what changed cannot be named",
    ]


def test_a_dropped_acknowledgement_is_found_even_with_recomputed_digests():
    from ketaplan.signing import _parts, _sha256_of

    signed = _signed()
    signed["signoff"]["acknowledgements"].pop()
    body = {"plan": signed["plan"], "signoff": signed["signoff"]}
    signed["parts"], signed["digest"] = _parts(body), _sha256_of(body)
    assert verify(signed) == ["the sign-off does not acknowledge WEIGHT-OUT-OF-DATE"]


def test_a_fully_recomputed_forgery_verifies_because_the_digest_is_not_a_signature():
    # Documented limit: no secret key, so recomputing every digest goes unseen.
    from ketaplan.signing import _parts, _sha256_of

    signed = _signed()
    signed["plan"]["sessions"][0]["dose_mg"] = 60
    signed["plan"] = with_digest(signed["plan"])
    body = {"plan": signed["plan"], "signoff": signed["signoff"]}
    signed["parts"], signed["digest"] = _parts(body), _sha256_of(body)
    assert verify(signed) == []


@pytest.mark.parametrize(
    ("value", "problems"),
    [
        ([], ["the file does not hold a signed plan (a JSON object)"]),
        ("text", ["the file does not hold a signed plan (a JSON object)"]),
        ({}, [
            "this is not a ketaplan signed plan (format None)",
            "the signed file has no plan",
            "the signed file has no sign-off",
            "the signed file has no digest",
        ]),
        ({"format": "ketaplan-plan/1"}, ["this is a draft plan, not a signed one: it has no sign-off"]),
        (
            {"format": "ketaplan-signed/1", "plan": [], "signoff": {}, "digest": "sha256:00"},
            ["the signed file has no plan"],
        ),
    ],
)
def test_malformed_input_is_a_list_of_problems_not_an_exception(value, problems):
    assert verify(value) == problems


def test_a_value_that_is_not_json_is_a_problem_not_an_exception():
    signed = _signed()
    signed["plan"]["patient"]["age"] = float("nan")
    assert verify(signed) == [
        "the signed file holds a value that is not JSON (nan is not representable in JCS), "
        "so it cannot be checked"
    ]


def test_verify_does_not_alter_what_it_checks():
    signed = _signed()
    kept = copy.deepcopy(signed)
    verify(signed)
    assert signed == kept
