"""The reviewer console's pages: sign-in, the problem-record queue, the side-by-side comparison with
the three decisions and merge undo, and the regional dashboard. Server-rendered (Jinja2), no script.

Pages authenticate from the console cookie (``gateway.console.signin``) and call the same services
as the API; an expired sign-in sends the browser back to the login form, any other refusal renders
an error page with the API's status code. Mount the static files at ``/console/static`` (see
``STATIC_DIR``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from gateway.audit import service as audit
from gateway.auth.dependencies import ContextDep, SessionDep
from gateway.auth.scopes import Scope
from gateway.batches import collection
from gateway.batches import service as batches
from gateway.clock import utcnow
from gateway.console import service, signin
from gateway.console.i18n import LANG_COOKIE, LANGUAGES, Texts, choose_language
from gateway.context import AppContext
from gateway.errors import FieldError, GatewayError, InvalidInput, NotAuthenticated, RateLimited
from gateway.registry import reviews
from gateway.registry.service import RegistryDeps
from gateway.reports import quality
from gateway.reports import service as reports
from gateway.reports.schemas import COMPLETENESS_FIELDS
from gateway.schemas import MAX_ROW_ID, RowId

STATIC_DIR = Path(__file__).parent / "static"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)

# The three decisions (texts: ``decision.*`` in the catalogue).
DECISIONS = ("same_person", "different_persons", "needs_evidence")
# A submission's two decisions (texts: ``collection.accept`` and ``collection.reject``).
REVIEW_DECISIONS = tuple(d.value for d in collection.Decision)


def _texts(request: Request) -> Texts:
    return Texts(
        choose_language(
            request.query_params.get("lang"),
            request.cookies.get(LANG_COOKIE),
            request.headers.get("accept-language"),
        )
    )


def _page(
    request: Request, ctx: AppContext, name: str, status_code: int = 200, **values: Any
) -> HTMLResponse:
    values.setdefault("caller", getattr(request.state, "caller", None))
    values["csrf"] = signin.csrf_token(ctx, request) if request.cookies.get(signin.TOKEN_COOKIE) else ""
    texts = _texts(request)
    values["t"] = texts
    values["other_language"] = "en" if texts.language == "zh-CN" else "zh-CN"
    response = templates.TemplateResponse(request, name, values, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Language"] = texts.language
    if request.query_params.get("lang") in LANGUAGES:
        # Asked for once, kept for the pages after (not a credential: Lax, readable by nothing but us).
        response.set_cookie(
            LANG_COOKIE, texts.language, max_age=365 * 86400, path=signin.COOKIE_PATH, samesite="lax"
        )
    return response


def _refused(request: Request, ctx: AppContext, exc: GatewayError) -> Response:
    if isinstance(exc, NotAuthenticated):
        target = "/console/login?" + urlencode({"next": request.url.path, "reason": exc.detail})
        response = RedirectResponse(target, status_code=303)
        signin.clear_session_cookies(response, request, ctx)
        return response
    errors = getattr(exc, "errors", [])
    return _page(request, ctx, "error.html", exc.status, title=exc.title, detail=exc.detail, errors=errors)


def _registry(ctx: AppContext) -> RegistryDeps:
    deps: RegistryDeps = ctx.services.registry
    return deps


@router.get("/console/login", response_class=HTMLResponse)
def login_form(
    request: Request, ctx: ContextDep, next: str = "/console/queue", reason: str | None = None
) -> Response:
    return _page(request, ctx, "login.html", next=next, error=reason if reason != "please sign in" else None)


def _safe_next(target: str) -> str:
    # Only console pages: an open redirect would let a link send a reviewer anywhere after login.
    return target if target.startswith("/console/") and "//" not in target else "/console/queue"


@router.post("/console/login")
def login(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    login: Annotated[str, Form(max_length=60)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=300)] = "/console/queue",
) -> Response:
    try:
        signin.check_origin(request)
        issued, caller = signin.sign_in(request, session, ctx, login=login.strip(), password=password)
    except GatewayError as exc:
        session.rollback()
        messages = [e.message for e in getattr(exc, "errors", [])] or [exc.detail]
        page = _page(
            request,
            ctx,
            "login.html",
            exc.status if exc.status in (401, 429) else 403,
            next=next,
            error="; ".join(messages),
        )
        if isinstance(exc, RateLimited):
            page.headers.update(exc.headers())
        return page
    audit.record(
        session, action="console.login", caller=caller, object_type="staff", object_ref=caller.acting_user
    )
    response = RedirectResponse(signin.landing(caller, _safe_next(next)), status_code=303)
    signin.set_session_cookies(response, request, ctx, issued)
    return response


@router.post("/console/logout")
def logout(request: Request, ctx: ContextDep, csrf: Annotated[str, Form()] = "") -> Response:
    try:
        signin.check_csrf(ctx, request, csrf)
    except GatewayError as exc:
        return _refused(request, ctx, exc)
    response = RedirectResponse("/console/login", status_code=303)
    signin.clear_session_cookies(response, request, ctx)
    return response


@router.get("/console")
def console_home() -> Response:
    return RedirectResponse("/console/queue", status_code=303)


@router.get("/console/queue", response_class=HTMLResponse)
def queue(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    type: str = "",
    status: str = "open",
    region: str = "",
    age: str = "",
) -> Response:
    """Problem records of the reviewer's jurisdiction, filtered by type, status, region and age."""
    try:
        caller = signin.caller_from_cookie(request, ctx)
        kind = type if type in service.PROBLEM_TYPES else None
        state = status if status in service.PROBLEM_STATUSES else None
        prefix = region if region.isdigit() and 2 <= len(region) <= 6 else None
        problems = reviews.list_problems(session, caller, kind=kind, status=state, region=prefix, limit=500)
        counts = reviews.count_problems(session, caller)
    except GatewayError as exc:
        session.rollback()
        return _refused(request, ctx, exc)
    min_age = service.AGE_FILTERS.get(age)
    listing = service.build_queue(problems, counts, utcnow(), min_age)
    return _page(
        request,
        ctx,
        "queue.html",
        queue=listing,
        filters={
            "type": kind or "",
            "status": state or "",
            "region": prefix or "",
            "age": age if min_age else "",
        },
        problem_types=service.PROBLEM_TYPES,
        problem_statuses=service.PROBLEM_STATUSES,
        truncated=len(problems) == 500,
    )


def _row_id(text: str) -> int | None:
    """A person id from a form field; anything that cannot be a row id is none."""
    return int(text) if text.isdigit() and 0 < int(text) <= MAX_ROW_ID else None


@router.get("/console/problems/{problem_id}", response_class=HTMLResponse)
def problem_page(
    request: Request, ctx: ContextDep, session: SessionDep, problem_id: RowId, done: str = ""
) -> Response:
    """A problem record's persons side by side, the matcher's explanation and the decision forms."""
    try:
        caller = signin.caller_from_cookie(request, ctx)
        detail = reviews.read_problem(session, _registry(ctx), caller, problem_id)
    except GatewayError as exc:
        session.rollback()
        return _refused(request, ctx, exc)
    return _page(
        request,
        ctx,
        "problem.html",
        detail=detail,
        comparison=service.build_comparison(detail),
        decisions=DECISIONS,
        can_decide=caller.has(Scope.REVIEWS_WRITE) and detail.status in reviews.OPEN_STATES,
        can_undo=caller.has(Scope.REVIEWS_WRITE) and detail.merge_id is not None,
        done=done,
    )


@router.post("/console/problems/{problem_id}/decision")
def problem_decision(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    problem_id: RowId,
    decision: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    survivor_id: Annotated[str, Form()] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        caller = signin.caller_from_cookie(request, ctx, needs=Scope.REVIEWS_WRITE)
        signin.check_csrf(ctx, request, csrf)
        if decision not in DECISIONS:
            raise InvalidInput(
                errors=[FieldError("decision", "unknown", "choose one of the three decisions")]
            )
        reviews.decide_problem(
            session,
            _registry(ctx),
            caller,
            problem_id,
            decision,  # type: ignore[arg-type]
            survivor_id=int(survivor_id)
            if survivor_id.isdigit() and 0 < int(survivor_id) <= MAX_ROW_ID
            else None,
            note=note.strip() or None,
        )
    except GatewayError as exc:
        session.rollback()
        return _refused(request, ctx, exc)
    return RedirectResponse(f"/console/problems/{problem_id}?done={decision}", status_code=303)


@router.post("/console/merges/{merge_id}/undo")
def undo_merge(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    merge_id: RowId,
    problem_id: Annotated[int, Form()],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    try:
        caller = signin.caller_from_cookie(request, ctx, needs=Scope.REVIEWS_WRITE)
        signin.check_csrf(ctx, request, csrf)
        reviews.undo_merge(session, caller, merge_id)
    except GatewayError as exc:
        session.rollback()
        return _refused(request, ctx, exc)
    return RedirectResponse(f"/console/problems/{problem_id}?done=undo", status_code=303)


@router.get("/console/dashboard", response_class=HTMLResponse)
def dashboard(
    request: Request, ctx: ContextDep, session: SessionDep, month: str = "", region: str = ""
) -> Response:
    """The month's figures of the reviewer's jurisdiction (or a region inside it), as charts, and the
    data quality of its units now, the most lagging first."""
    try:
        caller = signin.caller_from_cookie(request, ctx, needs=Scope.REPORTS_READ)
        month = month or reports.current_month()
        report = reports.report_for_caller(session, caller, month, region or None)
        data_quality = quality.quality_for_caller(
            session,
            caller,
            region or None,
            day=None,
            deadline_days=ctx.settings.problem_deadline_days,
        )
    except GatewayError as exc:
        session.rollback()
        return _refused(request, ctx, exc)
    return _page(
        request,
        ctx,
        "dashboard.html",
        report=report,
        quality=data_quality,
        quality_charts=service.quality_charts(data_quality),
        completeness_fields=COMPLETENESS_FIELDS,
        charts=service.dashboard_charts(report.total),
        regions=service.active_regions(report),
        months=service.previous_months(reports.current_month(), 12),
    )


@router.get("/console/collection", response_class=HTMLResponse)
def collection_queue(request: Request, ctx: ContextDep, session: SessionDep, done: str = "") -> Response:
    """The schools' submissions waiting for the signed-in person's level, with accept and reject."""
    try:
        caller = signin.caller_from_cookie(request, ctx, needs=Scope.COLLECTION_REVIEW)
        waiting = collection.present(session, collection.queue(session, caller))
    except GatewayError as exc:
        session.rollback()
        return _refused(request, ctx, exc)
    return _page(
        request,
        ctx,
        "collection.html",
        submissions=waiting,
        can_decide=caller.staff_role in collection.REVIEWING_ROLES,
        done=done if done in REVIEW_DECISIONS else "",
    )


@router.post("/console/collection/{batch_id}/review")
def collection_review(
    request: Request,
    ctx: ContextDep,
    batch_id: Annotated[str, PathParam(max_length=40)],
    decision: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
    rows: Annotated[str, Form(max_length=200_000)] = "",
) -> Response:
    try:
        caller = signin.caller_from_cookie(request, ctx, needs=Scope.COLLECTION_REVIEW)
        signin.check_csrf(ctx, request, csrf)
        if decision not in REVIEW_DECISIONS:
            raise InvalidInput(errors=[FieldError("decision", "unknown", "accept or reject")])
        reviewed = collection.review_submission(
            ctx.engine,
            caller,
            batch_id,
            decision=collection.Decision(decision),
            reason=reason.strip() or None,
            rows=service.parse_row_reasons(rows),
        )
    except GatewayError as exc:
        return _refused(request, ctx, exc)
    if reviewed.step == collection.ReviewStep.ACCEPTED:
        batches.run_in_background(
            ctx.services.jobs, ctx.engine, ctx.services.registry, batch_id, settings=ctx.settings
        )
    return RedirectResponse(f"/console/collection?done={decision}", status_code=303)
