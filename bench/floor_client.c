/* The floor of a plaintext check: the same SMTP dialogue as check_smtp (banner, EHLO, QUIT)
 * in C, with nothing else: no argument parsing, no timing, no report, no TLS library.
 * bench/check_vs_check_smtp.sh builds it with gcc and measures it like the two checks, so
 * the printed ratio says how low any check can go in this harness on this machine.
 * Usage: floor_client [ADDRESS [PORT]]   (default 127.0.0.1 2525); exit 0 on 220/250/221. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>
static char buf[4096];
/* Reads until a final reply line ("ddd "), returns its code; -1 at EOF or error. */
static int reply(int fd) {
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
        if (r <= 0) return -1;
        n += r; buf[n] = 0;
        char *line = buf;
        for (char *nl; (nl = strstr(line, "\r\n")); line = nl + 2)
            if (nl - line >= 4 && line[3] == ' ') return (line[0]-'0')*100 + (line[1]-'0')*10 + (line[2]-'0');
    }
}
int main(int argc, char **argv) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(argc > 2 ? atoi(argv[2]) : 2525) };
    inet_pton(AF_INET, argc > 1 ? argv[1] : "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) || reply(fd) != 220) return 2;
    write(fd, "EHLO vm\r\n", 9);
    if (reply(fd) != 250) return 2;
    write(fd, "QUIT\r\n", 6);
    if (reply(fd) != 221) return 2;
    close(fd);
    puts("SMTP OK");
    return 0;
}
