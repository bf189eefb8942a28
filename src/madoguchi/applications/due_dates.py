"""An application's due date: the processing time (標準処理期間, the procedure's ``sla_days``) counted in the
municipality's working days, with the clock stopped while the resident is asked for 補正. Decision 0034.

- **Submitted** on day S (in Japan): due on the ``sla_days``-th working day after S (S itself never counts).
- **補正 requested** on day P: the clock stops. The working days after P up to the due date are kept
  (``sla_remaining_days``, none when it has passed), and the due date is empty: a paused application is neither
  overdue nor due soon, and sorts after every dated one.
- **補正 answered** on day R (the application leaves ``more_info_requested`` for a state that is not final): due on
  the kept number of working days after R, counted as on submission.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from madoguchi import jp, workdays
from madoguchi.applications.models import Application
from madoguchi.applications.workflow import MORE_INFO_REQUESTED, Workflow
from madoguchi.tenancy import closed_days

__all__ = ["after_transition", "working_days_left"]


def after_transition(
    session: Session, application: Application, workflow: Workflow, from_state: str, moment: datetime
) -> None:
    """Set, stop or restart the clock for a transition from ``from_state`` to the application's state, taken at
    ``moment``."""
    to_state = application.state
    day = jp.date_in_japan(moment)  # a submission at 00:30 JST arrived that day, not the UTC one
    submitted = from_state == workflow.initial
    pausing = to_state == MORE_INFO_REQUESTED and from_state != MORE_INFO_REQUESTED
    resuming = from_state == MORE_INFO_REQUESTED and to_state != MORE_INFO_REQUESTED and application.sla_paused
    if not (submitted or pausing or resuming):
        return
    calendar = closed_days.calendar_for(session, application.tenant_id, since=day)
    if submitted:
        sla = application.settings_snapshot.get("sla_days")
        application.due_on = workdays.add_working_days(day, int(sla), calendar) if sla else None
    if pausing and application.due_on is not None:
        application.sla_remaining_days = workdays.working_days_between(day, application.due_on, calendar)
        application.sla_paused_on = day
        application.due_on = None
    elif resuming:
        if not workflow.is_terminal(to_state):
            application.due_on = workdays.add_working_days(day, application.sla_remaining_days or 0, calendar)
        application.sla_remaining_days = None
        application.sla_paused_on = None


def working_days_left(due_on: date, today: date, calendar: workdays.Calendar) -> int:
    """Working days from tomorrow up to the due date (0 on the due date or after it)."""
    return workdays.working_days_between(today, due_on, calendar)
