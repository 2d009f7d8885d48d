/*
 * Synthetic conntrack entries for the conntrack benchmark (bench/conntrack/),
 * run inside the benchmark's own network namespace. Benchmark code only:
 * the exporter itself never writes to the table.
 *
 *   conntrack-fill create|destroy COUNT [options]
 *     --offset K       first entry index (default 0): entries K .. K+COUNT-1
 *     --hosts H        remote hosts the entries are spread over (default 1000)
 *     --ipv6-every M   every M-th host is IPv6, the others IPv4 (default 4)
 *     --timeout S      seconds before the kernel forgets an entry (default 7200)
 *     --rate R         at most R entries a second (default: as fast as it can)
 *
 * Entry i is a fixed function of i, so `destroy` with the same options finds
 * what `create` made. Host h = i % H is remote; this host is 192.0.2.1 or
 * 2001:db8::1. Two hosts in three connect in (to 443, 80 or 22 here), the
 * third is a server this host connects out to (5432, 6379 or 443). States
 * are mixed as on a busy server: mostly ESTABLISHED, then TIME_WAIT, and some
 * of every other state.
 *
 * `conntrack -I` takes a round trip per entry; this packs a few hundred
 * requests into each sendmsg() on one netlink socket. The kernel handles a
 * datagram's requests within the sendmsg() call and queues an error message
 * only for those that fail, so reading the socket after each batch counts
 * the failures exactly without an acknowledgement per entry.
 *
 * Prints one JSON line: {"done":N,"failed":F,"seconds":S,"firstError":"..."}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

/* Room for one request: a TCP entry with both tuples is about 200 bytes. */
#define MAX_MESSAGE 1024
/* Well under the socket's send buffer, which bounds one datagram. */
#define BATCH_BYTES (64 * 1024)
/* Ephemeral ports per (host, service): entries of one host beyond this would repeat a tuple. */
#define EPHEMERAL_PORTS 64000

struct options {
  int destroy;
  long count;
  long offset;
  long hosts;
  long ipv6_every;
  uint32_t timeout;
  double rate;
};

static const uint16_t INBOUND_PORTS[] = {443, 80, 22};
static const uint16_t OUTBOUND_PORTS[] = {5432, 6379, 443};

/* Percentages, summing to 100. */
static const struct {
  uint8_t state;
  int percent;
} STATE_MIX[] = {
    {TCP_CONNTRACK_ESTABLISHED, 70}, {TCP_CONNTRACK_TIME_WAIT, 12}, {TCP_CONNTRACK_SYN_SENT, 4},
    {TCP_CONNTRACK_SYN_RECV, 3},     {TCP_CONNTRACK_FIN_WAIT, 3},   {TCP_CONNTRACK_CLOSE_WAIT, 3},
    {TCP_CONNTRACK_LAST_ACK, 2},     {TCP_CONNTRACK_CLOSE, 3},
};

static void usage(void) {
  fprintf(stderr,
          "usage: conntrack-fill create|destroy COUNT [--offset K] [--hosts H] "
          "[--ipv6-every M] [--timeout S] [--rate R]\n");
  exit(2);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint8_t state_of(long i) {
  /* A 64-bit mix (splitmix64's finalizer), so that the states of one host's
   * entries vary as much as those of different hosts. */
  uint64_t x = (uint64_t)i + 0x9e3779b97f4a7c15u;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  x ^= x >> 31;
  int roll = (int)(x % 100);
  for (size_t s = 0; s < sizeof STATE_MIX / sizeof STATE_MIX[0]; s++) {
    if (roll < STATE_MIX[s].percent) return STATE_MIX[s].state;
    roll -= STATE_MIX[s].percent;
  }
  return TCP_CONNTRACK_ESTABLISHED;
}

/* Sets the original and reply tuples (and for a create, state and timeout) of entry i. */
static void describe(struct nf_conntrack *ct, const struct options *o, long i) {
  const long host = i % o->hosts;
  const long k = i / o->hosts;
  const int ipv6 = o->ipv6_every > 0 && host % o->ipv6_every == o->ipv6_every - 1;
  const int inbound = host % 3 != 2;
  const uint16_t service = inbound ? INBOUND_PORTS[(host / 3) % 3] : OUTBOUND_PORTS[(host / 3) % 3];
  const uint16_t ephemeral = (uint16_t)(1024 + k % EPHEMERAL_PORTS);

  /* The reply tuple has protocol fields of its own, built from these. */
  nfct_set_attr_u8(ct, ATTR_ORIG_L3PROTO, ipv6 ? AF_INET6 : AF_INET);
  nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, ipv6 ? AF_INET6 : AF_INET);
  nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, IPPROTO_TCP);
  nfct_set_attr_u8(ct, ATTR_REPL_L4PROTO, IPPROTO_TCP);
  if (ipv6) {
    struct in6_addr local, remote;
    inet_pton(AF_INET6, "2001:db8::1", &local);
    inet_pton(AF_INET6, "2001:db8:1::", &remote);
    remote.s6_addr[12] = (uint8_t)((host + 1) >> 24);
    remote.s6_addr[13] = (uint8_t)((host + 1) >> 16);
    remote.s6_addr[14] = (uint8_t)((host + 1) >> 8);
    remote.s6_addr[15] = (uint8_t)(host + 1);
    const struct in6_addr *src = inbound ? &remote : &local;
    const struct in6_addr *dst = inbound ? &local : &remote;
    nfct_set_attr(ct, ATTR_ORIG_IPV6_SRC, src);
    nfct_set_attr(ct, ATTR_ORIG_IPV6_DST, dst);
    nfct_set_attr(ct, ATTR_REPL_IPV6_SRC, dst);
    nfct_set_attr(ct, ATTR_REPL_IPV6_DST, src);
  } else {
    const uint32_t local = htonl(0xc0000201);                        /* 192.0.2.1 */
    const uint32_t remote = htonl(0xc6120000 + (uint32_t)host + 1);  /* 198.18.0.0/15 */
    const uint32_t src = inbound ? remote : local;
    const uint32_t dst = inbound ? local : remote;
    nfct_set_attr_u32(ct, ATTR_ORIG_IPV4_SRC, src);
    nfct_set_attr_u32(ct, ATTR_ORIG_IPV4_DST, dst);
    nfct_set_attr_u32(ct, ATTR_REPL_IPV4_SRC, dst);
    nfct_set_attr_u32(ct, ATTR_REPL_IPV4_DST, src);
  }
  /* The initiator's port is the ephemeral one whichever side initiated. */
  const uint16_t sport = htons(ephemeral);
  const uint16_t dport = htons(service);
  nfct_set_attr_u16(ct, ATTR_ORIG_PORT_SRC, sport);
  nfct_set_attr_u16(ct, ATTR_ORIG_PORT_DST, dport);
  nfct_set_attr_u16(ct, ATTR_REPL_PORT_SRC, dport);
  nfct_set_attr_u16(ct, ATTR_REPL_PORT_DST, sport);
  if (!o->destroy) {
    const uint8_t state = state_of(i);
    /* As the kernel would have it: only an unanswered SYN has seen no reply. */
    if (state != TCP_CONNTRACK_SYN_SENT) nfct_set_attr_u32(ct, ATTR_STATUS, IPS_SEEN_REPLY | IPS_ASSURED);
    nfct_set_attr_u8(ct, ATTR_TCP_STATE, state);
    nfct_set_attr_u32(ct, ATTR_TIMEOUT, o->timeout);
  }
}

/* Appends the request for entry i at `at`; returns its length. */
static size_t build(char *at, struct nf_conntrack *ct, const struct options *o, long i) {
  memset(at, 0, MAX_MESSAGE);
  struct nlmsghdr *header = (struct nlmsghdr *)at;
  header->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
  header->nlmsg_type =
      (NFNL_SUBSYS_CTNETLINK << 8) | (o->destroy ? IPCTNL_MSG_CT_DELETE : IPCTNL_MSG_CT_NEW);
  /* No NLM_F_ACK: the kernel answers only the requests that fail. */
  header->nlmsg_flags = NLM_F_REQUEST | (o->destroy ? 0 : NLM_F_CREATE | NLM_F_EXCL);
  header->nlmsg_seq = (uint32_t)i;
  struct nfgenmsg *family = NLMSG_DATA(header);
  family->version = NFNETLINK_V0;
  describe(ct, o, i);
  family->nfgen_family = nfct_get_attr_u8(ct, ATTR_L3PROTO);
  nfct_nlmsg_build(header, ct);
  return NLMSG_ALIGN(header->nlmsg_len);
}

static long failed;
static int first_error;

/* Counts the error messages the kernel queued for the last batch. */
static void collect_errors(int fd) {
  char buffer[65536];
  for (;;) {
    ssize_t got = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      perror("recv");
      exit(1);
    }
    int length = (int)got;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buffer; NLMSG_OK(h, length);
         h = NLMSG_NEXT(h, length)) {
      if (h->nlmsg_type != NLMSG_ERROR) continue;
      const struct nlmsgerr *error = NLMSG_DATA(h);
      if (error->error == 0) continue;
      failed++;
      if (first_error == 0) first_error = -error->error;
    }
  }
}

static long parse_long(const char *text) {
  char *end;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || value < 0) usage();
  return value;
}

int main(int argc, char **argv) {
  struct options o = {.hosts = 1000, .ipv6_every = 4, .timeout = 7200};
  if (argc < 3) usage();
  if (strcmp(argv[1], "create") == 0) {
    o.destroy = 0;
  } else if (strcmp(argv[1], "destroy") == 0) {
    o.destroy = 1;
  } else {
    usage();
  }
  o.count = parse_long(argv[2]);
  for (int a = 3; a < argc; a += 2) {
    if (a + 1 >= argc) usage();
    const long value = parse_long(argv[a + 1]);
    if (strcmp(argv[a], "--offset") == 0) {
      o.offset = value;
    } else if (strcmp(argv[a], "--hosts") == 0) {
      o.hosts = value;
    } else if (strcmp(argv[a], "--ipv6-every") == 0) {
      o.ipv6_every = value;
    } else if (strcmp(argv[a], "--timeout") == 0) {
      o.timeout = (uint32_t)value;
    } else if (strcmp(argv[a], "--rate") == 0) {
      o.rate = (double)value;
    } else {
      usage();
    }
  }
  if (o.hosts < 1 || (o.offset + o.count - 1) / o.hosts >= EPHEMERAL_PORTS) {
    fprintf(stderr, "conntrack-fill: at most %d entries per host\n", EPHEMERAL_PORTS);
    return 2;
  }

  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) {
    perror("socket(NETLINK_NETFILTER)");
    return 1;
  }
  struct sockaddr_nl self = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&self, sizeof self) < 0) {
    perror("bind");
    return 1;
  }
  /* An error message then carries the failed request's header only, not all of it. */
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  /* Room for a whole batch of failures (e.g. every entry already there). */
  int receive = 8 * 1024 * 1024;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive, sizeof receive) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive, sizeof receive);
  }
  int send = 4 * BATCH_BYTES;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &send, sizeof send) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send, sizeof send);
  }

  struct nf_conntrack *ct = nfct_new();
  char *batch = malloc(BATCH_BYTES);
  if (ct == NULL || batch == NULL) {
    perror("allocation");
    return 1;
  }
  const struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  const double started = now();
  long done = 0;
  while (done < o.count) {
    size_t used = 0;
    long in_batch = 0;
    while (done + in_batch < o.count && used + MAX_MESSAGE <= BATCH_BYTES) {
      /* A fresh object: attributes of the other family must not linger. */
      nfct_destroy(ct);
      ct = nfct_new();
      if (ct == NULL) {
        perror("nfct_new");
        return 1;
      }
      used += build(batch + used, ct, &o, o.offset + done + in_batch);
      in_batch++;
    }
    if (o.rate > 0) {
      /* Paced per batch: a steady stream at the asked rate, not one burst per second. */
      const double due = started + (double)(done + in_batch) / o.rate;
      const double wait = due - now();
      if (wait > 0) {
        struct timespec pause = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
        nanosleep(&pause, NULL);
      }
    }
    ssize_t sent;
    do {
      sent = sendto(fd, batch, used, 0, (const struct sockaddr *)&kernel, sizeof kernel);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
      perror("sendto");
      return 1;
    }
    collect_errors(fd);
    done += in_batch;
  }
  const double seconds = now() - started;
  printf("{\"done\":%ld,\"failed\":%ld,\"seconds\":%.6f,\"firstError\":\"%s\"}\n", done - failed,
         failed, seconds, first_error ? strerror(first_error) : "");
  nfct_destroy(ct);
  free(batch);
  close(fd);
  return 0;
}
