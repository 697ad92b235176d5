/*
 * http_floor.c - the floor for the sequential HTTP benchmarks: N keep-alive
 * requests with libcurl's easy interface from C, no event loop, no Lua.
 * GETs, or POSTs of BODY with the given headers (the exec/run floor).
 * Usage: http_floor URL N [BODY [HEADER...]]
 *   -> prints "<N> requests in <s> s: <r> req/s"
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <curl/curl.h>

static size_t
discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p; (void)ud;
	return size * n;
}

int
main(int argc, char **argv)
{
	struct timespec a, b;
	long i, n, code = 0;
	double s;
	CURL *e;
	struct curl_slist *hdrs = NULL;
	int k;

	if (argc < 3) {
		fprintf(stderr, "usage: http_floor URL N [BODY [HEADER...]]\n");
		return 2;
	}
	n = atol(argv[2]);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	e = curl_easy_init();
	curl_easy_setopt(e, CURLOPT_URL, argv[1]);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	if (argc > 3) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, argv[3]);
		for (k = 4; k < argc; k++)
			hdrs = curl_slist_append(hdrs, argv[k]);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++) {
		if (curl_easy_perform(e) != CURLE_OK)
			return 1;
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
		if (code != 200)
			return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("%ld requests in %.3f s: %.0f req/s\n", n, s, (double)n / s);
	curl_easy_cleanup(e);
	curl_slist_free_all(hdrs);
	curl_global_cleanup();
	return 0;
}
