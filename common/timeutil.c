/* Timestamps: one format for every file, parsed strictly. */
#include "common/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void rfc3339_format(const struct timespec *ts, char *out, size_t outsz)
{
	struct tm tm;

	gmtime_r(&ts->tv_sec, &tm);
	snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts->tv_nsec);
}

void rfc3339_now(char *out, size_t outsz)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	rfc3339_format(&ts, out, outsz);
}

static bool take_digits(const char **p, int n, int *val)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*val = v;
	return true;
}

static bool take_char(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

static int days_in_month(int y, int mo)
{
	static const int dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[mo - 1];
}

bool rfc3339_parse(const char *s, struct timespec *out)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	long nsec = 0;
	const char *p = s;
	time_t t;

	if (!s)
		return false;
	if (!take_digits(&p, 4, &y) || !take_char(&p, '-') || !take_digits(&p, 2, &mo) ||
	    !take_char(&p, '-') || !take_digits(&p, 2, &d) ||
	    !(take_char(&p, 'T') || take_char(&p, 't') || take_char(&p, ' ')) ||
	    !take_digits(&p, 2, &h) || !take_char(&p, ':') || !take_digits(&p, 2, &mi) ||
	    !take_char(&p, ':') || !take_digits(&p, 2, &sec))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 60)
		return false;
	if (*p == '.') {
		int digits = 0;
		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p)) {
			if (digits < 9) {
				nsec = nsec * 10 + (*p - '0');
				digits++;
			}
			p++;
		}
		while (digits++ < 9)
			nsec *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		p++;
		if (!take_digits(&p, 2, &oh) || !take_char(&p, ':') || !take_digits(&p, 2, &om))
			return false;
		if (oh > 23 || om > 59)
			return false;
	} else {
		return false;
	}
	if (*p != '\0')
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return false;
	out->tv_sec = t - (time_t)sign * (oh * 3600 + om * 60);
	out->tv_nsec = nsec;
	return true;
}

long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
