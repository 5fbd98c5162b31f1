"""Sensors: tenant partitions follow tenants.yaml; the night's build follows its ingestion; a
failed run marks snapshots stale and alerts.

`tenant_registry` adds a partition for each tenant new in the registry and asks for its first
run (which backfills its history). A tenant removed from the file keeps its partition, with its
history and its last snapshot: the schedule stops asking for it, and a run for it fails saying it
is not in the registry; offboarding (purging its data, then deleting the partition) is deliberate.

`nightly_build` asks for the one `warehouse_build` run of each night once all of that night's
`tenant_ingest` runs have finished (`nightly.build_request`).

When a run fails, `mark_snapshots_stale_on_failure` marks the current snapshot of each tenant of
the run stale (it keeps serving its previous version), and `slack_on_run_failure` posts one
message to the Slack webhook naming the tenant (the run's partition), the source (from the
failed step's asset keys), the step and the error's first line, redacted.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dagster import (
    DagsterEvent,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from aya.snapshots import mark_stale
from aya.tenants import load_registry
from ingestion.errors import redact
from orchestration.jobs import TENANT_REFRESH_JOB, WAREHOUSE_BUILD_JOB
from orchestration.nightly import NIGHTLY_SCHEDULE, build_request, scheduled_refreshes
from orchestration.partitions import TENANTS, registered_tenants, run_tenants
from orchestration.raw import RAW_PREFIX
from orchestration.resources import SlackWebhook


@sensor(
    name="tenant_registry",
    job_name=TENANT_REFRESH_JOB,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
)
def tenant_registry(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    """Add the partitions of tenants new in tenants.yaml and request their first load."""
    registry_ids = load_registry().ids
    known = registered_tenants(context.instance)
    removed = [tenant for tenant in known if tenant not in registry_ids]
    if removed:
        context.log.warning(f"tenants {removed} left tenants.yaml; their partitions are kept")
    new = [tenant for tenant in registry_ids if tenant not in known]
    if not new:
        return SkipReason(f"every tenant of tenants.yaml has its partition ({len(known)})")
    return SensorResult(
        run_requests=[RunRequest(partition_key=t, run_key=f"first-load:{t}") for t in new],
        dynamic_partitions_requests=[TENANTS.build_add_request(new)],
    )


NIGHTS_LOOKED_BACK = timedelta(days=2)


@sensor(
    name="nightly_build",
    job_name=WAREHOUSE_BUILD_JOB,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
)
def nightly_build(context: SensorEvaluationContext) -> list[RunRequest] | SkipReason:
    """One build per night once its ingestion has finished (its run key makes it once only)."""
    since = datetime.now(UTC) - NIGHTS_LOOKED_BACK
    refreshes = scheduled_refreshes(context.instance, NIGHTLY_SCHEDULE, since)
    answers = [build_request(context.instance, refresh) for refresh in refreshes]
    requests = [answer for answer in answers if isinstance(answer, RunRequest)]
    if requests:
        return requests
    reasons = "; ".join(answer.skip_message or "" for answer in answers)
    return SkipReason(reasons or "no nightly refresh in the last two days")


@dataclass(frozen=True)
class FailedStep:
    step: str
    sources: list[str]
    error: str


@dataclass(frozen=True)
class RunFailure:
    """What a failed run was about and where it broke, as the alerts tell it."""

    run_id: str
    job_name: str
    started_at: datetime
    tenants: list[str]
    steps: list[FailedStep]
    run_error: str

    @property
    def summary(self) -> str:
        where = "; ".join(f"{step.step}: {step.error}" for step in self.steps)
        return f"run {self.run_id} of {self.job_name} failed: {where or self.run_error}"


def describe_failure(context: RunFailureSensorContext) -> RunFailure:
    run = context.dagster_run
    sources = _sources_by_step(context)
    return RunFailure(
        run_id=run.run_id,
        job_name=run.job_name,
        started_at=_started_at(context),
        tenants=run_tenants(run, context.instance),
        steps=[
            FailedStep(event.step_key, sources.get(event.step_key, []), _first_line(_error(event)))
            for event in context.get_step_failure_events()
        ],
        run_error=_first_line(context.failure_event.message or "the run failed"),
    )


def _started_at(context: RunFailureSensorContext) -> datetime:
    record = context.instance.get_run_record_by_id(context.dagster_run.run_id)
    if record.start_time is not None:
        return datetime.fromtimestamp(record.start_time, UTC)
    return record.create_timestamp.astimezone(UTC)


def _sources_by_step(context: RunFailureSensorContext) -> dict[str, list[str]]:
    """step key → the sources of the raw assets it materialises (from the execution plan)."""
    plan = context.instance.get_execution_plan_snapshot(
        context.dagster_run.execution_plan_snapshot_id
    )
    sources: dict[str, list[str]] = {}
    for step in plan.steps:
        keys = [o.properties.asset_key for o in step.outputs if o.properties is not None]
        sources[step.key] = sorted(
            {key.path[1] for key in keys if key is not None and key.path[0] == RAW_PREFIX}
        )
    return sources


def _error(event: DagsterEvent) -> str:
    failure = event.step_failure_data
    if failure.user_failure_data is not None and failure.user_failure_data.description:
        return failure.user_failure_data.description
    return failure.error.message if failure.error else "the step failed"


def _first_line(text: str) -> str:
    return redact(text.strip().splitlines()[0] if text.strip() else text)


def failure_message(failure: RunFailure) -> str:
    """The Slack text: tenant, then each failed step with its source and error."""
    tenants = ", ".join(failure.tenants) or "none (the run is not partitioned by tenant)"
    lines = [
        f":rotating_light: Ask Your Ads: a run failed for tenant {tenants}",
        f"job `{failure.job_name}`, run `{failure.run_id}`",
    ]
    lines += [
        f"• step `{step.step}`, source {', '.join(step.sources) or 'n/a'}: {step.error}"
        for step in failure.steps
    ] or [f"• {failure.run_error}"]
    return "\n".join(lines)


@run_failure_sensor(
    name="mark_snapshots_stale_on_failure", default_status=DefaultSensorStatus.RUNNING
)
def mark_snapshots_stale_on_failure(context: RunFailureSensorContext) -> None:
    """The run's tenants keep serving their current snapshot, marked stale with the reason."""
    failure = describe_failure(context)
    for tenant in failure.tenants:
        mark_stale(tenant, failure.summary, failure.started_at)


@run_failure_sensor(name="slack_on_run_failure", default_status=DefaultSensorStatus.RUNNING)
def slack_on_run_failure(context: RunFailureSensorContext, slack: SlackWebhook) -> None:
    """One message per failed run."""
    slack.post(failure_message(describe_failure(context)))
