/*
 * Loopback load for the proxy benchmark, in C so that the load itself costs
 * little next to the proxies it measures (the machine has two cores).
 *
 *   connload echo PORT                 echo server; prints "ready"
 *   connload rate PORT CLIENTS SECONDS connect, send 100 bytes, read them
 *                                      back, close, repeat; prints
 *                                      "connections N seconds S errors E"
 *   connload idle PORT COUNT           opens COUNT connections, echoes 100
 *                                      bytes on each, prints "ready", holds
 *                                      them until stdin closes
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MESSAGE 100
#define MAX_EVENTS 256

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

static void echo(int port) __attribute__((noreturn));
static void echo(int port) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = loopback(port);
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
  if (listen(listener, 4096) < 0) die("listen");
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  printf("ready\n");
  fflush(stdout);
  struct epoll_event events[MAX_EVENTS];
  char buffer[65536];
  for (;;) {
    int n = epoll_wait(ep, events, MAX_EVENTS, -1);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == listener) {
        int client;
        while ((client = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct epoll_event cev = {.events = EPOLLIN, .data.fd = client};
          epoll_ctl(ep, EPOLL_CTL_ADD, client, &cev);
        }
        continue;
      }
      ssize_t got = read(fd, buffer, sizeof buffer);
      if (got > 0) {
        /* Replies are small; a short write only happens to a client gone bad. */
        if (write(fd, buffer, got) != got) close(fd);
      } else if (got == 0 || errno != EAGAIN) {
        close(fd);
      }
    }
  }
}

struct conn {
  int fd;
  int received;
};

static int first_error;

static int start(int ep, struct conn *c, int port) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  c->received = 0;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in addr = loopback(port);
  if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
    if (!first_error) first_error = errno;
    close(c->fd);
    return -1;
  }
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  return 0;
}

/* Drives `count` connections; returns how many completed. stop_at 0: each once. */
static long drive(int port, int count, double stop_at, long *errors, int keep_open) {
  static const char message[MESSAGE] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                                       "0123456789abcdef0123456789ab";
  int ep = epoll_create1(0);
  struct conn *conns = calloc(count, sizeof *conns);
  long done = 0;
  int active = 0;
  for (int i = 0; i < count; i++) {
    if (start(ep, &conns[i], port) == 0) active++;
    else (*errors)++;
  }
  struct epoll_event events[MAX_EVENTS];
  char buffer[MESSAGE];
  while (active > 0) {
    int n = epoll_wait(ep, events, MAX_EVENTS, 1000);
    for (int i = 0; i < n; i++) {
      struct conn *c = events[i].data.ptr;
      if (events[i].events & EPOLLOUT) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || write(c->fd, message, MESSAGE) != MESSAGE) {
          if (!first_error) first_error = err != 0 ? err : errno;
          goto failed;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        continue;
      }
      ssize_t got = read(c->fd, buffer, sizeof buffer);
      if (got <= 0) {
        if (got < 0 && errno == EAGAIN) continue;
        if (!first_error) first_error = got == 0 ? -1 : errno;
        goto failed;
      }
      c->received += got;
      if (c->received < MESSAGE) continue;
      done++;
      if (keep_open) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        active--;
        continue;
      }
      close(c->fd);
      if (stop_at > 0 && now() < stop_at && start(ep, c, port) == 0) continue;
      active--;
      continue;
    failed:
      (*errors)++;
      close(c->fd);
      if (stop_at > 0 && now() < stop_at && start(ep, c, port) == 0) continue;
      active--;
    }
    if (n == 0 && stop_at > 0 && now() > stop_at + 5) break; /* stuck connections: give up */
  }
  return done;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "echo") == 0) echo(atoi(argv[2]));
  if (argc >= 5 && strcmp(argv[1], "rate") == 0) {
    long errors = 0;
    double begin = now();
    long done = drive(atoi(argv[2]), atoi(argv[3]), begin + atof(argv[4]), &errors, 0);
    printf("connections %ld seconds %.3f errors %ld first_error %s\n", done, now() - begin, errors,
           first_error == 0 ? "none" : first_error < 0 ? "eof" : strerror(first_error));
    return 0;
  }
  if (argc >= 4 && strcmp(argv[1], "idle") == 0) {
    long errors = 0;
    long done = drive(atoi(argv[2]), atoi(argv[3]), 0, &errors, 1);
    printf("ready %ld errors %ld first_error %s\n", done, errors,
           first_error == 0 ? "none" : first_error < 0 ? "eof" : strerror(first_error));
    fflush(stdout);
    while (getchar() != EOF) {
    }
    return 0;
  }
  fprintf(stderr, "usage: connload echo PORT | rate PORT CLIENTS SECONDS | idle PORT COUNT\n");
  return 2;
}
