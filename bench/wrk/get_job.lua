-- GET /jobs/<id> of one existing job: a read by primary key, the cheapest database round trip.
wrk.method = "GET"
wrk.path = os.getenv("BENCH_JOB_PATH")
