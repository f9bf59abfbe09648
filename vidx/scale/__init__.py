"""Scale-out: a job's segments rendered by Ray workers (optional extra ``vidx[ray]``)."""
