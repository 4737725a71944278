"""Task pages: the list (filters, sort, pages, bulk actions), new, detail, edit, delete,
trash, and processing with a progress bar that htmx keeps up to date."""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, flash, make_response, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from tasktracker.errors import AppError, InvalidQuery, PreconditionFailed, ValidationFailed
from tasktracker.pagination import page_links
from tasktracker.schemas import TaskFormSchema
from tasktracker.services import jobs, task_lists, tasks
from tasktracker.web.blueprint import back_to, bp, field_errors, form_data, see_other

PER_PAGE_CHOICES = (10, 20, 50, 100)
SORTS = {
    "-created_at": "Newest first",
    "created_at": "Oldest first",
    "due_at": "Due soonest",
    "-priority,due_at": "Highest priority",
    "-updated_at": "Recently changed",
    "title": "Title A–Z",
}


def _is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


@bp.get("/tasks")
@login_required
def list_tasks() -> Any:
    """The list, with the API's query names, so that a view is a URL to share."""
    # The filter form sends every field; an empty one means "any".
    args = MultiDict([(k, v) for k, v in request.args.items(multi=True) if v != ""])
    try:
        page = task_lists.list_tasks(current_user, args)
        error = None
    except InvalidQuery as invalid:
        page, error = None, invalid
    tags = task_lists.tag_counts(current_user)
    return render_template(
        "tasks/list.html",
        page=page,
        error=error,
        args=args,
        links=page_links(page, url_for("web.list_tasks"), args) if page else {},
        tag_options=[("", "Any")] + [(t["name"], f"{t['name']} ({t['count']})") for t in tags],
        sorts=SORTS,
        per_page_options=[(str(n), str(n)) for n in PER_PAGE_CHOICES],
        trash=args.get("deleted") == "only",
        # The filters stay folded unless one is in use (sorting and paging are not filters).
        filtering=any(k not in ("sort", "per_page", "page", "cursor", "deleted") for k in args),
    ), (error.status if error else 200)


@bp.route("/tasks/new", methods=["GET", "POST"])
@login_required
def new_task() -> Any:
    if request.method == "GET":
        return render_template("tasks/form.html", task=None, values={}, errors={})
    values = form_data()
    try:
        created = tasks.create_task(current_user, values, schema=TaskFormSchema())
    except ValidationFailed as error:
        return render_template(
            "tasks/form.html", task=None, values=values, errors=field_errors(error)
        ), 422
    flash(f"Task “{created.title}” created.", "success")
    return see_other("web.task_detail", task_id=created.id)


@bp.get("/tasks/<id:task_id>")
@login_required
def task_detail(task_id: int) -> Any:
    # The jobs first: a job's end is committed with the task's status and its log entries,
    # so a page showing a job finished shows the task and its log as that job left them
    # (each read sees what was committed when it ran).
    job_page = jobs.list_jobs(current_user, task_id, per_page=10)
    return render_template(
        "tasks/detail.html",
        task=tasks.get_task(current_user, task_id),
        events=tasks.list_events(current_user, task_id, per_page=100),
        jobs=job_page,
    )


@bp.route("/tasks/<id:task_id>/edit", methods=["GET", "POST"])
@login_required
def edit_task(task_id: int) -> Any:
    """Edits travel with the version the form was opened at: a task changed since is not
    overwritten; the page shows both versions instead."""
    task = tasks.get_task(current_user, task_id)
    if request.method == "GET":
        return render_template("tasks/form.html", task=task, values=_values_of(task), errors={})
    values = form_data()
    version = request.form.get("version", "")
    try:
        tasks.update_task(
            current_user,
            task_id,
            values,
            partial=False,
            if_match=[int(version)] if version.isdigit() else [],
            schema=TaskFormSchema(),
        )
    except ValidationFailed as error:
        return render_template(
            "tasks/form.html", task=task, values=values, errors=field_errors(error)
        ), 422
    except PreconditionFailed:
        current = tasks.get_task(current_user, task_id)
        return render_template(
            "tasks/form.html",
            task=current,
            values=values,
            errors={},
            conflict=_values_of(current),
        ), 409
    flash("Changes saved.", "success")
    return see_other("web.task_detail", task_id=task_id)


@bp.route("/tasks/<id:task_id>/delete", methods=["GET", "POST"])
@login_required
def delete_task(task_id: int) -> Any:
    task = tasks.get_task(current_user, task_id)
    if request.method == "GET":
        return render_template("tasks/delete.html", task=task)
    tasks.delete_task(current_user, task_id)
    flash(f"“{task.title}” moved to the trash. You can restore it from there.", "success")
    return see_other("web.list_tasks")


@bp.post("/tasks/<id:task_id>/restore")
@login_required
def restore_task(task_id: int) -> Any:
    task = tasks.restore_task(current_user, task_id)
    flash(f"“{task.title}” restored.", "success")
    return back_to("web.list_tasks")


@bp.post("/tasks/<id:task_id>/toggle")
@login_required
def toggle_task(task_id: int) -> Any:
    """Complete or reopen; htmx swaps the row in place, a plain form comes back here."""
    done = request.form.get("done") == "1"
    task = (tasks.complete_task if done else tasks.reopen_task)(current_user, task_id)
    if _is_htmx():
        return render_template("tasks/_row.html", task=task, next=request.form.get("next"))
    flash(f"“{task.title}” {'completed' if done else 'reopened'}.", "success")
    return back_to("web.list_tasks")


@bp.post("/tasks/bulk")
@login_required
def bulk_action() -> Any:
    ids = [int(value) for value in request.form.getlist("ids") if value.isdigit()]
    action = request.form.get("action")
    if not ids:
        flash("Select at least one task first.", "error")
    elif action == "complete":
        count = tasks.complete_tasks(current_user, ids)
        flash(f"Completed {count} task{'s' if count != 1 else ''}.", "success")
    elif action == "delete":
        count = tasks.delete_tasks(current_user, ids)
        flash(f"Moved {count} task{'s' if count != 1 else ''} to the trash.", "success")
    else:
        abort(400)
    return back_to("web.list_tasks")


@bp.post("/tasks/<id:task_id>/process")
@login_required
def process_task(task_id: int) -> Any:
    try:
        jobs.request_processing(current_user, task_id)
        flash("Processing queued.", "success")
    except AppError as error:
        if error.status != 409:
            raise
        flash(error.message, "error")
    return see_other("web.task_detail", task_id=task_id, _anchor="jobs")


@bp.post("/jobs/<uuid:job_id>/cancel")
@login_required
def cancel_job(job_id: uuid.UUID) -> Any:
    try:
        job = jobs.cancel_job(current_user, job_id)
        flash("Processing cancelled.", "success")
    except AppError as error:
        if error.status != 409:
            raise
        job = jobs.get_job(current_user, job_id)
        flash(error.message, "error")
    return see_other("web.task_detail", task_id=job.task_id, _anchor="jobs")


@bp.get("/jobs/<uuid:job_id>/panel")
@login_required
def job_panel(job_id: uuid.UUID) -> Any:
    """The job's row, for htmx to poll while it runs (the row stops asking once it ends).
    When its state is not the one the page shows, the page also redraws the task, and its
    live region says what happened."""
    job = jobs.get_job(current_user, job_id)
    moved = request.args.get("seen") != job.state
    response = make_response(render_template("tasks/_job_panel.html", job=job, moved=moved))
    if moved:
        response.headers["HX-Trigger"] = "task-changed"
    return response


def _values_of(task: Any) -> dict[str, Any]:
    return {
        "title": task.title,
        "description": task.description,
        "priority": str(task.priority),
        "status": task.status,
        "due_at": task.due_at.strftime("%Y-%m-%dT%H:%M") if task.due_at else "",
        "tags": ", ".join(task.tag_names),
    }
