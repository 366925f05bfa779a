/* The floor of a verified STARTTLS probe: the dialogue of bench/probe_vs_blackbox.sh (banner,
 * EHLO, STARTTLS, TLS handshake verifying the server's certificate against CA_FILE for the name
 * "localhost", EHLO, QUIT, close_notify) in C with OpenSSL and nothing else: no HTTP, no runtime,
 * no timing, no report, one blocking connection at a time, a full handshake every time.
 * bench/probe_vs_blackbox.sh builds it with gcc and prints its CPU per dialogue beside the two
 * exporters', so the figures say how low any client can go on this machine.
 * Usage: starttls_floor CA_FILE COUNT [ADDRESS [PORT]]   (default 127.0.0.1 2525)
 * Prints "CPU_MS_PER_DIALOGUE"; exits 2 on any failed step. */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static char buf[8192];

/* Reads until a final reply line ("ddd ") arrives, over the socket or TLS; returns its code. */
static int reply(int fd, SSL *tls) {
    size_t n = 0;
    for (;;) {
        int r = tls ? SSL_read(tls, buf + n, (int)(sizeof buf - 1 - n)) : (int)read(fd, buf + n, sizeof buf - 1 - n);
        if (r <= 0) return -1;
        n += (size_t)r; buf[n] = 0;
        char *line = buf;
        for (char *nl; (nl = strstr(line, "\r\n")); line = nl + 2)
            if (nl - line >= 4 && line[3] == ' ') return (line[0]-'0')*100 + (line[1]-'0')*10 + (line[2]-'0');
        if (n >= sizeof buf - 1) return -1;
    }
}

static int say(int fd, SSL *tls, const char *line) {
    int len = (int)strlen(line);
    return tls ? SSL_write(tls, line, len) == len : write(fd, line, (size_t)len) == len;
}

static int dialogue(SSL_CTX *ctx, const struct sockaddr_in *a) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok = 0;
    SSL *tls = NULL;
    if (fd < 0 || connect(fd, (const struct sockaddr *)a, sizeof *a) || reply(fd, NULL) != 220) goto out;
    if (!say(fd, NULL, "EHLO bench.smtpwatch.test\r\n") || reply(fd, NULL) != 250) goto out;
    if (!say(fd, NULL, "STARTTLS\r\n") || reply(fd, NULL) != 220) goto out;
    tls = SSL_new(ctx);
    if (!tls || !SSL_set_fd(tls, fd) || !SSL_set1_host(tls, "localhost")) goto out;
    SSL_set_tlsext_host_name(tls, "localhost");
    if (SSL_connect(tls) != 1 || SSL_get_verify_result(tls) != X509_V_OK) goto out;
    if (!say(fd, tls, "EHLO bench.smtpwatch.test\r\n") || reply(fd, tls) != 250) goto out;
    if (!say(fd, tls, "QUIT\r\n") || reply(fd, tls) != 221) goto out;
    SSL_shutdown(tls);
    ok = 1;
out:
    if (tls) SSL_free(tls);
    if (fd >= 0) close(fd);
    return ok;
}

static double cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: starttls_floor CA_FILE COUNT [ADDRESS [PORT]]\n"); return 2; }
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(argc > 4 ? atoi(argv[4]) : 2525) };
    if (inet_pton(AF_INET, argc > 3 ? argv[3] : "127.0.0.1", &a.sin_addr) != 1) return 2;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_load_verify_locations(ctx, argv[1], NULL) != 1) { ERR_print_errors_fp(stderr); return 2; }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    long count = atol(argv[2]);
    if (!dialogue(ctx, &a)) { ERR_print_errors_fp(stderr); return 2; }   /* warm-up */
    double before = cpu_seconds();
    for (long i = 0; i < count; i++)
        if (!dialogue(ctx, &a)) { ERR_print_errors_fp(stderr); return 2; }
    printf("%.3f\n", (cpu_seconds() - before) / (double)count * 1000);
    return 0;
}
