/*
 * rustygpt: dispatches to the subcommand named by argv[1]. Each subcommand
 * parses its own flags (see cli.h for exit codes).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
#define RG_X_ENTRY(name, help) {#name, rg_cmd_##name, help},
    RG_CLI_COMMANDS(RG_X_ENTRY)
#undef RG_X_ENTRY
};

static void usage(FILE *out)
{
    fprintf(out,
            "rustygpt %s: a private AI platform that runs on your own machine\n\n"
            "usage: rustygpt <command> [options]   (rustygpt <command> --help)\n\ncommands:\n",
            RG_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s%s\n", commands[i].name, commands[i].help,
                commands[i].fn ? "" : " (not built yet)");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return RG_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return RG_EXIT_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("rustygpt %s\n", RG_VERSION);
        return RG_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(name, commands[i].name) != 0) continue;
        if (!commands[i].fn) {
            fprintf(stderr, "rustygpt: '%s' is not built yet in this version\n", name);
            return RG_EXIT_FAIL;
        }
        return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "rustygpt: unknown command '%s' (see rustygpt --help)\n", name);
    return RG_EXIT_USAGE;
}
