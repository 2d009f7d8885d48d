/*
 * Real TCP connection attempts for bench/conntrack/events-setting.sh: COUNT
 * connects over loopback to a port where nobody listens, each refused by a
 * reset, so that the kernel tracks COUNT new connections (SYN_SENT, then
 * CLOSE) through its packet path. Destinations rotate over 127.0.0.1 to
 * 127.0.0.64 so that few tuples repeat. Benchmark code only.
 *
 *   conntrack-refused COUNT PORT
 *
 * Prints one JSON line: {"refused":N,"other":M}
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: conntrack-refused COUNT PORT\n");
    return 2;
  }
  long count = atol(argv[1]);
  int port = atoi(argv[2]);
  long refused = 0, other = 0;
  for (long i = 0; i < count; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
      perror("socket");
      return 1;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    to.sin_addr.s_addr = htonl(0x7f000001 + (i % 64));
    if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0 && errno == ECONNREFUSED)
      refused++;
    else
      other++;
    close(fd);
  }
  printf("{\"refused\":%ld,\"other\":%ld}\n", refused, other);
  return 0;
}
