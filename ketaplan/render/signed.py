"""The PlanView of a signed plan file: its plan read back, its sign-off, and what `verify` finds."""

from __future__ import annotations

from ketaplan.render.view import PlanView, SignedBy, build_view


def signed_view(signed: dict) -> PlanView:
    """The view of a signed plan (ketaplan.signing's format): the draft's sections with the sign-off
    filled in; a file that no longer verifies carries each problem as a warning. Raises ValueError
    (or KeyError, TypeError) when the file holds no plan that can be read."""
    from ketaplan.render.json import plan_from_dict
    from ketaplan.signing import verify

    problems = tuple(verify(signed))
    plan_dict = signed.get("plan") if isinstance(signed, dict) else None
    if not isinstance(plan_dict, dict):
        raise ValueError("the signed file holds no plan")
    signoff = signed.get("signoff")
    if not isinstance(signoff, dict):
        signoff = {}
    acks = signoff.get("acknowledgements")
    reasons = {
        a.get("rule"): a.get("reason") for a in (acks if isinstance(acks, list) else []) if isinstance(a, dict)
    }
    by = SignedBy(
        clinician=str(signoff.get("clinician") or ""),
        registration=str(signoff.get("registration") or ""),
        signed_at=str(signoff.get("signed_at") or ""),
        reasons=reasons,
        digest=str(signed.get("digest") or ""),
        problems=problems,
    )
    return build_view(plan_from_dict(plan_dict), digest=plan_dict.get("digest"), signed=by)
