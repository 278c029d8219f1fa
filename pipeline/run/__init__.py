"""The run itself: the nightly steps the orchestrator calls (paths and ids in, counts out), the output build, the run summary, the doctor."""
