"""Background processing: everything that runs a job, in one place.

- `queue`: the RQ queue; Redis carries job ids, the jobs table is the truth. The job
  service (services/jobs.py: request, read, cancel) enqueues through it after its commit.
- `attempts`: the attempt protocol, run by the RQ entry point `run_attempt`: claim, report
  progress, succeed, fail and retry; every write fenced by the attempt.
- `heartbeat`: a running attempt's lease, renewed from a thread of its own.
- `recovery`: the reaper, which takes back the jobs of dead workers and re-enqueues the
  ones Redis lost.
- `workers`: `flask worker` and the in-process worker of the zero-config app.
- `processors`: the work a job does for its task (TASK_PROCESSOR).

Imports run one way: workers → recovery → attempts → heartbeat, processors, queue; the
task side's rules come from services/task_changes.py.
"""
