/*
 * report.c — what a run says: the summary table, the failures, where whole
 * graphs with a fallback ran, and the machine-readable reports (JSON with
 * cJSON, JUnit XML for CI).
 *
 * Sections: 1 table; 2 failures and placement; 3 JSON; 4 JUnit XML.
 */
#include "conf_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *cfg(const conf_target *t)
{
    return t->config[0] ? t->config : "default";
}

/* ------------------------------------------------------------------ 1 --- */

void conf_report_table(FILE *f, const conf_run *run)
{
    /* The device and config columns are as wide as their longest entry, so
     * long configs (vulkan's shader variants) keep the numbers aligned. */
    int wd = (int)strlen("device"), wc = (int)strlen("config");
    for (uint32_t i = 0; i < run->n_targets; i++) {
        const conf_target *t = &run->targets[i];
        int d = (int)strlen(t->available ? t->device_name : "-"), c = (int)strlen(cfg(t));
        wd = d > wd ? d : wd;
        wc = c > wc ? c : wc;
    }
    fprintf(f, "%-10s %-3s %-*s  %-*s %7s %7s %7s %7s %6s %8s\n", "backend", "dev", wd, "device",
            wc, "config", "passed", "failed", "unsupp", "skipped", "xfail", "time");
    for (uint32_t i = 0; i < run->n_targets; i++) {
        const conf_target *t = &run->targets[i];
        if (!t->available) {
            fprintf(f, "%-10s %-3u %-*s  %-*s SKIPPED: %s\n", t->backend, t->device, wd, "-", wc,
                    cfg(t), t->reason);
            continue;
        }
        fprintf(f, "%-10s %-3u %-*s  %-*s %7u %7u %7u %7u %6u %7.1fs\n", t->backend, t->device,
                wd, t->device_name, wc, cfg(t), t->counts[CONF_PASS],
                t->counts[CONF_FAIL] + t->counts[CONF_XPASS], t->counts[CONF_UNSUPPORTED],
                t->counts[CONF_SKIP], t->counts[CONF_XFAIL], t->ms / 1e3);
    }
}

/* ------------------------------------------------------------------ 2 --- */

void conf_report_failures(FILE *f, const conf_run *run)
{
    for (uint32_t i = 0; i < run->n_records; i++) {
        const conf_record *r = &run->records[i];
        if (r->r.status != CONF_FAIL && r->r.status != CONF_XPASS)
            continue;
        const conf_target *t = &run->targets[r->target];
        fprintf(f, "%s %s device %u [%s] '%s' seed %u: %s: %s\n",
                r->r.status == CONF_XPASS ? "XPASS" : "FAIL", t->backend, t->device, cfg(t),
                r->name, r->r.seed, conf_fail_name(r->r.fail), r->r.message);
    }
}

void conf_report_placement(FILE *f, const conf_run *run)
{
    for (uint32_t i = 0; i < run->n_records; i++) {
        const conf_record *r = &run->records[i];
        if (!r->placement[0])
            continue;
        const conf_target *t = &run->targets[r->target];
        fprintf(f, "%s [%s] '%s' %s: %s\n", t->backend, cfg(t), r->name,
                conf_status_name(r->r.status), r->placement);
    }
}

/* ------------------------------------------------------------------ 3 --- */

static cJSON *record_json(const conf_record *r)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "name", r->name);
    cJSON_AddStringToObject(c, "op", r->op < PLINTH_OP_COUNT
                                         ? plinth_op_name((plinth_op)r->op) : "graph");
    cJSON_AddStringToObject(c, "status", conf_status_name(r->r.status));
    cJSON_AddNumberToObject(c, "seed", r->r.seed);
    cJSON_AddNumberToObject(c, "ms", r->r.ms);
    if (r->r.status == CONF_PASS || r->r.status == CONF_FAIL || r->r.status == CONF_XFAIL ||
        r->r.status == CONF_XPASS) {
        cJSON_AddNumberToObject(c, "nmse", r->r.nmse);
        cJSON_AddNumberToObject(c, "max_nmse", r->r.max_nmse);
    }
    if (r->r.fail != CONF_FAIL_NONE) {
        cJSON_AddStringToObject(c, "kind", conf_fail_name(r->r.fail));
        cJSON_AddStringToObject(c, "error", r->r.message);
    }
    if (r->reason[0])
        cJSON_AddStringToObject(c, "reason", r->reason);
    if (r->placement[0])
        cJSON_AddStringToObject(c, "placement", r->placement);
    return c;
}

bool conf_report_json(const conf_run *run, const char *path, char *err, size_t err_size)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "plinth", PLINTH_VERSION_STRING);
    cJSON_AddNumberToObject(root, "abi", PLINTH_ABI_VERSION);
    cJSON_AddNumberToObject(root, "seed", run->base_seed);
    cJSON_AddNumberToObject(root, "ms", run->ms);
    cJSON_AddNumberToObject(root, "failed", conf_run_failed(run));
    cJSON *targets = cJSON_AddArrayToObject(root, "targets");
    for (uint32_t i = 0; i < run->n_targets; i++) {
        const conf_target *t = &run->targets[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "backend", t->backend);
        cJSON_AddStringToObject(o, "plugin", t->plugin_path);
        cJSON_AddNumberToObject(o, "device", t->device);
        cJSON_AddStringToObject(o, "device_name", t->device_name);
        cJSON_AddStringToObject(o, "config", t->config);
        cJSON_AddBoolToObject(o, "available", t->available);
        if (!t->available)
            cJSON_AddStringToObject(o, "reason", t->reason);
        cJSON *counts = cJSON_AddObjectToObject(o, "counts");
        for (int s = 0; s < CONF_STATUS_COUNT; s++)
            cJSON_AddNumberToObject(counts, conf_status_name(s), t->counts[s]);
        cJSON_AddNumberToObject(o, "ms", t->ms);
        cJSON *cases = cJSON_AddArrayToObject(o, "cases");
        for (uint32_t k = 0; k < run->n_records; k++)
            if (run->records[k].target == i)
                cJSON_AddItemToArray(cases, record_json(&run->records[k]));
        cJSON_AddItemToArray(targets, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    FILE *f = text ? fopen(path, "w") : NULL;
    bool ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok)
        snprintf(err, err_size, "cannot write %s", path);
    free(text);
    return ok;
}

/* ------------------------------------------------------------------ 4 --- */

static void xml_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t')
                fputc(*s, f);
        }
    }
}

bool conf_report_junit(const conf_run *run, const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, err_size, "cannot write %s", path);
        return false;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"plinth "
               "conformance\" failures=\"%u\" time=\"%.3f\">\n",
            conf_run_failed(run), run->ms / 1e3);
    for (uint32_t i = 0; i < run->n_targets; i++) {
        const conf_target *t = &run->targets[i];
        uint32_t tests = 0;
        for (int s = 0; s < CONF_STATUS_COUNT; s++)
            tests += t->counts[s];
        const uint32_t skipped = t->counts[CONF_SKIP] + t->counts[CONF_UNSUPPORTED] +
                                 t->counts[CONF_XFAIL];
        fprintf(f, "  <testsuite name=\"");
        fprintf(f, "%s.device%u.", t->backend, t->device);
        xml_escaped(f, cfg(t));
        fprintf(f, "\" tests=\"%u\" failures=\"%u\" skipped=\"%u\" time=\"%.3f\">\n",
                t->available ? tests : 1, t->counts[CONF_FAIL] + t->counts[CONF_XPASS],
                t->available ? skipped : 1, t->ms / 1e3);
        if (!t->available) {
            fprintf(f, "    <testcase classname=\"%s\" name=\"device %u\"><skipped message=\"",
                    t->backend, t->device);
            xml_escaped(f, t->reason);
            fprintf(f, "\"/></testcase>\n");
        }
        for (uint32_t k = 0; k < run->n_records; k++) {
            const conf_record *r = &run->records[k];
            if (r->target != i)
                continue;
            fprintf(f, "    <testcase classname=\"%s.%s\" name=\"", t->backend,
                    r->op < PLINTH_OP_COUNT ? plinth_op_name((plinth_op)r->op) : "graph");
            xml_escaped(f, r->name);
            fprintf(f, "\" time=\"%.4f\">", r->r.ms / 1e3);
            switch (r->r.status) {
            case CONF_FAIL:
            case CONF_XPASS:
                fprintf(f, "<failure type=\"%s\" message=\"", conf_fail_name(r->r.fail));
                xml_escaped(f, r->r.message);
                fprintf(f, "\">seed %u</failure>", r->r.seed);
                break;
            case CONF_UNSUPPORTED:
                fprintf(f, "<skipped message=\"unsupported by the backend\"/>");
                break;
            case CONF_SKIP:
            case CONF_XFAIL:
                fprintf(f, "<skipped message=\"%s: ", conf_status_name(r->r.status));
                xml_escaped(f, r->reason);
                fprintf(f, "\"/>");
                break;
            default:
                break;
            }
            fprintf(f, "</testcase>\n");
        }
        fprintf(f, "  </testsuite>\n");
    }
    fprintf(f, "</testsuites>\n");
    if (fclose(f) != 0) {
        snprintf(err, err_size, "cannot write %s", path);
        return false;
    }
    return true;
}
