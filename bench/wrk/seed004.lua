-- POST /word-count to the seed 004 reproduction (bench/seed004.py), not through Nginx.
wrk.method = "POST"
wrk.path = "/word-count"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"url": "http://127.0.0.1/words.txt"}'
