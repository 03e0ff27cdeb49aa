/* SPDX-License-Identifier: MIT */
/* qmp.c: a small QMP client (QEMU Machine Protocol) built on jansson.
 *
 * QMP is line-delimited JSON over a unix socket: a greeting, then commands
 * {"execute": ...} answered by {"return": ...} or {"error": ...}, with asynchronous
 * {"event": ...} messages in between. The orchestrator needs only a handful of
 * commands (qmp_capabilities, query-status, quit), so this stays small; every read is
 * bounded by a deadline because a wedged QEMU must not wedge the suite.
 */
#include "vm.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void qmp_close(struct qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -EBADF;
	q->len = 0;
}

/* read_message() - the next JSON message, waiting until @deadline_ms (-1: don't wait). */
static int read_message(struct qmp *q, int64_t deadline_ms, json_t **ret)
{
	for (;;) {
		char *newline = memchr(q->buf, '\n', q->len);
		struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
		int64_t left;
		ssize_t n;
		int r;

		if (newline) {
			size_t line_len = (size_t)(newline - q->buf) + 1;
			json_error_t error;
			json_t *message;

			message = json_loadb(q->buf, line_len, 0, &error);
			memmove(q->buf, q->buf + line_len, q->len - line_len);
			q->len -= line_len;
			if (!message)
				return -EPROTO;
			if (json_is_object(message) && json_object_get(message, "event")) {
				const char *name = json_string_value(json_object_get(message, "event"));

				if (name && !strcmp(name, "SHUTDOWN"))
					q->shutdown_seen = true;
			}
			*ret = message;
			return 0;
		}
		if (q->len == sizeof(q->buf))
			return -EMSGSIZE;

		left = deadline_ms < 0 ? 0 : deadline_ms - vm_now_ms();
		if (left < 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0) {
			if (deadline_ms < 0 || vm_now_ms() >= deadline_ms)
				return -ETIMEDOUT;
			continue;
		}
		n = read(q->fd, q->buf + q->len, sizeof(q->buf) - q->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		q->len += (size_t)n;
	}
}

static int send_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int qmp_execute(struct qmp *q, const char *command, int64_t deadline_ms, json_t **ret_return)
{
	char *request;
	int r;

	if (asprintf(&request, "{\"execute\": \"%s\"}\n", command) < 0)
		return -ENOMEM;
	r = send_all(q->fd, request, strlen(request));
	free(request);
	if (r < 0)
		return r;

	for (;;) {
		json_t *message, *value;

		r = read_message(q, deadline_ms, &message);
		if (r < 0)
			return r;
		if ((value = json_object_get(message, "return"))) {
			if (ret_return)
				*ret_return = json_incref(value);
			json_decref(message);
			return 0;
		}
		if (json_object_get(message, "error")) {
			json_decref(message);
			return -EPROTO;
		}
		json_decref(message); /* an event: keep waiting for our answer */
	}
}

int qmp_connect(struct qmp *q, const char *socket_path, int64_t deadline_ms)
{
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	json_t *greeting;
	int fd, r;

	memset(q, 0, sizeof(*q));
	q->fd = -EBADF;
	if (strlen(socket_path) >= sizeof(address.sun_path))
		return -ENAMETOOLONG;
	strcpy(address.sun_path, socket_path);

	/* QEMU creates the socket a moment after it starts: retry until it is there. */
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&address, sizeof(address)) == 0)
			break;
		r = -errno;
		close(fd);
		if (r != -ENOENT && r != -ECONNREFUSED)
			return r;
		if (vm_now_ms() >= deadline_ms)
			return -ETIMEDOUT;
		vm_sleep_ms(20);
	}
	q->fd = fd;

	r = read_message(q, deadline_ms, &greeting);
	if (r < 0)
		goto fail;
	r = json_object_get(greeting, "QMP") ? 0 : -EPROTO;
	json_decref(greeting);
	if (r < 0)
		goto fail;
	r = qmp_execute(q, "qmp_capabilities", deadline_ms, NULL);
	if (r < 0)
		goto fail;
	return 0;
fail:
	qmp_close(q);
	return r;
}

int qmp_status(struct qmp *q, int64_t deadline_ms, char *ret_status, size_t size)
{
	json_t *answer = NULL;
	const char *status;
	int r;

	r = qmp_execute(q, "query-status", deadline_ms, &answer);
	if (r < 0)
		return r;
	status = json_string_value(json_object_get(answer, "status"));
	if (!status) {
		json_decref(answer);
		return -EPROTO;
	}
	snprintf(ret_status, size, "%s", status);
	json_decref(answer);
	return 0;
}

int qmp_drain_events(struct qmp *q)
{
	for (;;) {
		json_t *message;
		int r = read_message(q, -1, &message);

		if (r == -ETIMEDOUT)
			return 0;
		if (r < 0)
			return r;
		json_decref(message);
	}
}
