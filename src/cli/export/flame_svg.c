/*
 * flame_svg.c - a self-contained interactive flame graph in one SVG file: no external
 * resource (no fonts, stylesheets or scripts fetched), so it can be attached to a bug report
 * and opened offline. Click a frame to zoom into it, "Reset Zoom" to come back, "Search" (or
 * Ctrl-F, or ?s=REGEX in the URL) to highlight frames and see their share; hovering a frame
 * shows its label, value and share (also as a native tooltip, from <title>).
 *
 * Every piece of text from the recording is a safe label (asyncstack.h) and then XML-escaped;
 * the script never builds markup from strings: it reads labels with textContent and writes
 * them with textContent.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "export/flame_int.h"

#define FRAME_H 16
#define FONT_SIZE 12
#define CHAR_W                                                                                     \
    (FONT_SIZE * 0.62) /* glyph width of the monospace font (DejaVu Sans Mono: 0.6), px */
#define XPAD 10
#define TOP_PAD 72 /* title, subtitle and hint */
#define BOTTOM_PAD 30

void flame_xml(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            /* Safe labels are printable ASCII; anything else here would be a bug, and XML
             * 1.0 forbids most control characters even as references: drop them. */
            if ((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f)
                fputc(*s, out);
            break;
        }
    }
}

/* Colour of a frame: the hue family says the weight (warm: time, aqua: count, green: live),
 * the shade is a hash of the frame's type name, so one type keeps one colour everywhere. */
static void frame_colour(char *buf, size_t n, const struct ftree *t, const struct ftree_node *fn)
{
    if (fn->cls < 0) {
        snprintf(buf, n, fn->parent == FT_NONE ? "rgb(215,215,215)" : "rgb(185,185,185)");
        return;
    }
    const char *l = t->labels[fn->label];
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *l && *l != '@'; l++)
        h = (h ^ (unsigned char)*l) * 0x100000001b3ull;
    double v1 = (double)(h & 0xff) / 255.0, v2 = (double)((h >> 8) & 0xff) / 255.0;
    int r, g, b;
    switch (t->weight) {
    case W_TIME:
        r = 205 + (int)(50 * v2);
        g = (int)(230 * v1);
        b = (int)(55 * v2);
        break;
    case W_COUNT:
        r = 50 + (int)(60 * v1);
        g = 165 + (int)(55 * v1);
        b = 165 + (int)(55 * v2);
        break;
    default:
        r = (int)(60 * v2);
        g = 190 + (int)(50 * v2);
        b = (int)(210 * v1);
        break;
    }
    snprintf(buf, n, "rgb(%d,%d,%d)", r, g, b);
}

/* The label cut to what fits in W pixels ("" when nothing useful fits). */
static void fit_label(char *buf, size_t n, const char *label, double w)
{
    size_t fits = w > 0 ? (size_t)(w / CHAR_W) : 0;
    size_t len = strlen(label);
    if (fits < 3) {
        buf[0] = '\0';
    } else if (len <= fits) {
        snprintf(buf, n, "%s", label);
    } else {
        size_t keep = fits - 2 < n - 3 ? fits - 2 : n - 3;
        memcpy(buf, label, keep);
        memcpy(buf + keep, "..", 3);
    }
}

static const char script[] =
    "'use strict';\n"
    "var svg, frames, details, matchedText, unzoomBtn, searchBtn, total = 0, searching = null;\n"
    "var W = 0, XPAD = 10, CHAR_W = 0, nodes = [];\n"
    "function attr(e, n) { return e.getAttribute(n); }\n"
    "function init(evt) {\n"
    "  svg = document.documentElement;\n"
    "  W = parseFloat(attr(svg, 'width'));\n"
    "  CHAR_W = parseFloat(attr(svg, 'data-charw'));\n"
    "  details = document.getElementById('details');\n"
    "  matchedText = document.getElementById('matched');\n"
    "  unzoomBtn = document.getElementById('unzoom');\n"
    "  searchBtn = document.getElementById('search');\n"
    "  var gs = document.getElementById('frames').getElementsByTagName('g');\n"
    "  for (var i = 0; i < gs.length; i++) {\n"
    "    var g = gs[i], r = g.getElementsByTagName('rect')[0];\n"
    "    var t = g.getElementsByTagName('title')[0].textContent;\n"
    "    var n = { g: g, rect: r, text: g.getElementsByTagName('text')[0],\n"
    "      label: t.split('\\n')[0], info: t.split('\\n')[1] || '',\n"
    "      x: parseFloat(attr(r, 'x')), w: parseFloat(attr(r, 'width')),\n"
    "      v: parseFloat(attr(g, 'data-v')), p: parseInt(attr(g, 'data-p'), 10),\n"
    "      depth: parseInt(attr(g, 'data-d'), 10), fill: attr(r, 'fill') };\n"
    "    nodes[parseInt(attr(g, 'data-i'), 10)] = n;\n"
    "    g.addEventListener('click', zoomHandler(n));\n"
    "    g.addEventListener('mouseover', showHandler(n));\n"
    "    g.addEventListener('mouseout', function () { details.textContent = ' '; });\n"
    "  }\n"
    "  if (nodes[0]) total = nodes[0].v;\n"
    "  unzoomBtn.addEventListener('click', unzoom);\n"
    "  searchBtn.addEventListener('click', searchPrompt);\n"
    "  window.addEventListener('keydown', function (e) {\n"
    "    if ((e.ctrlKey || e.metaKey) && e.keyCode === 70) { e.preventDefault(); searchPrompt(); "
    "}\n"
    "    else if (e.keyCode === 27) { resetSearch(); }\n"
    "  });\n"
    "  var params = new URLSearchParams(document.location.search);\n"
    "  if (params.get('x') !== null && nodes[parseInt(params.get('x'), 10)])\n"
    "    zoom(nodes[parseInt(params.get('x'), 10)]);\n"
    "  if (params.get('s')) search(params.get('s'));\n"
    "}\n"
    "function zoomHandler(n) { return function (e) { e.stopPropagation(); zoom(n); }; }\n"
    "function showHandler(n) { return function () { details.textContent = n.label + '  ' + n.info; "
    "}; }\n"
    "function fit(n, w) {\n"
    "  var fits = Math.floor(w / CHAR_W);\n"
    "  if (fits < 3) n.text.textContent = '';\n"
    "  else if (n.label.length <= fits) n.text.textContent = n.label;\n"
    "  else n.text.textContent = n.label.substring(0, fits - 2) + '..';\n"
    "}\n"
    "function place(n, x, w) {\n"
    "  n.rect.setAttribute('x', x.toFixed(2));\n"
    "  n.rect.setAttribute('width', w.toFixed(2));\n"
    "  n.text.setAttribute('x', (x + 3).toFixed(2));\n"
    "  fit(n, w);\n"
    "}\n"
    "function isAncestor(a, n) {\n"
    "  for (var p = n.p; p >= 0 && nodes[p]; p = nodes[p].p) if (nodes[p] === a) return true;\n"
    "  return false;\n"
    "}\n"
    "function zoom(z) {\n"
    "  var ratio = (W - 2 * XPAD) / z.w;\n"
    "  nodes.forEach(function (n) {\n"
    "    n.g.classList.remove('hide'); n.g.classList.remove('parent');\n"
    "    if (n === z || isAncestor(z, n)) {\n"
    "      place(n, XPAD + (n.x - z.x) * ratio, n.w * ratio);\n"
    "    } else if (isAncestor(n, z)) {\n"
    "      n.g.classList.add('parent'); place(n, XPAD, W - 2 * XPAD);\n"
    "    } else {\n"
    "      n.g.classList.add('hide');\n"
    "    }\n"
    "  });\n"
    "  unzoomBtn.classList.remove('hide');\n"
    "  svg.setAttribute('data-zoomed', z.label);\n"
    "  if (searching !== null) search(searching);\n"
    "}\n"
    "function unzoom() {\n"
    "  nodes.forEach(function (n) {\n"
    "    n.g.classList.remove('hide'); n.g.classList.remove('parent'); place(n, n.x, n.w);\n"
    "  });\n"
    "  unzoomBtn.classList.add('hide');\n"
    "  svg.removeAttribute('data-zoomed');\n"
    "  if (searching !== null) search(searching);\n"
    "}\n"
    "function searchPrompt() {\n"
    "  if (searching !== null) { resetSearch(); return; }\n"
    "  var term = prompt('Search frames (regular expression, case-insensitive):', '');\n"
    "  if (term) search(term);\n"
    "}\n"
    "function resetSearch() {\n"
    "  searching = null;\n"
    "  nodes.forEach(function (n) { n.rect.setAttribute('fill', n.fill); "
    "n.g.classList.remove('match'); });\n"
    "  matchedText.textContent = ' ';\n"
    "  searchBtn.textContent = 'Search';\n"
    "}\n"
    "function search(term) {\n"
    "  var re;\n"
    "  try { re = new RegExp(term, 'i'); }\n"
    "  catch (e) { re = new RegExp(term.replace(/[.*+?^${}()|[\\]\\\\]/g, '\\\\$&'), 'i'); }\n"
    "  searching = term;\n"
    "  var sum = 0, hits = 0;\n"
    "  nodes.forEach(function (n) {\n"
    "    var m = re.test(n.label);\n"
    "    n.rect.setAttribute('fill', m ? 'rgb(230,0,230)' : n.fill);\n"
    "    if (m) { n.g.classList.add('match'); hits++; } else n.g.classList.remove('match');\n"
    "  });\n"
    "  /* A matched frame inside a matched frame is already counted by its ancestor. */\n"
    "  nodes.forEach(function (n) {\n"
    "    if (!n.g.classList.contains('match')) return;\n"
    "    for (var p = n.p; p >= 0 && nodes[p]; p = nodes[p].p)\n"
    "      if (nodes[p].g.classList.contains('match')) return;\n"
    "    sum += n.v;\n"
    "  });\n"
    "  var pct = total > 0 ? 100 * sum / total : 0;\n"
    "  matchedText.textContent = hits ? 'Matched: ' + pct.toFixed(1) + '%' : 'No match';\n"
    "  searchBtn.textContent = 'Reset Search';\n"
    "}\n";

struct layout {
    struct flame_run *run;
    const struct ftree *t;
    double scale;  /* px per unit of weight */
    double *x;     /* left edge of each frame, px */
    uint32_t *idx; /* output index of each drawn frame, UINT32_MAX when not drawn */
    uint32_t ndrawn, maxdepth;
    int height;
};

/* Lay frames out: children left to right from their parent's edge, in tree order. */
static void layout(struct layout *L)
{
    const struct ftree *t = L->t;
    L->ndrawn = 0;
    L->maxdepth = 0;
    for (uint32_t i = 0; i < t->nn; i++)
        L->idx[i] = UINT32_MAX;
    L->x[0] = XPAD;
    L->idx[0] = L->ndrawn++;
    /* Parents come before children in index order: one forward sweep per sibling list. */
    for (uint32_t i = 0; i < t->nn; i++) {
        if (L->idx[i] == UINT32_MAX)
            continue;
        double cx = L->x[i];
        for (uint32_t c = t->n[i].first_child; c != FT_NONE; c = t->n[c].next_sibling) {
            double w = (double)t->n[c].total * L->scale;
            L->x[c] = cx;
            cx += w;
            if (t->n[c].total == 0 || w < L->run->o->min_width)
                continue;
            L->idx[c] = L->ndrawn++;
            if (t->n[c].depth > L->maxdepth)
                L->maxdepth = t->n[c].depth;
        }
    }
}

static void title_text(char *buf, size_t n, const struct flame_opts *o)
{
    size_t pos = 0;
    buf[0] = '\0';
    if (o->title != NULL) {
        ahp_label_append(buf, n, &pos, o->title, strlen(o->title));
        return;
    }
    const char *def = o->weight == W_TIME    ? "Async flame graph: callback time"
                      : o->weight == W_COUNT ? "Async flame graph: resources created"
                      : o->weight == W_CPU   ? "CPU flame graph on async stacks"
                      : o->weight == W_OFFCPU
                          ? "Off-CPU flame graph on async stacks: blocking inside callbacks"
                          : "Leak flame graph: resources alive at the end";
    snprintf(buf, n, "%s", def);
}

int flame_write_svg(struct flame_run *run, const struct ftree *t)
{
    const struct flame_opts *o = run->o;
    FILE *out = run->out;
    struct layout L = {.run = run, .t = t};
    L.x = calloc(t->nn, sizeof(double));
    L.idx = calloc(t->nn, sizeof(uint32_t));
    if (L.x == NULL || L.idx == NULL) {
        free(L.x);
        free(L.idx);
        return -ENOMEM;
    }
    double width = (double)o->width;
    uint64_t total = t->n[0].total;
    L.scale = total > 0 ? (width - 2 * XPAD) / (double)total : 0;
    layout(&L);
    if (total == 0) /* nothing to weigh: still draw the root, full width, as an empty graph */
        L.scale = 0;
    int height = TOP_PAD + (int)(L.maxdepth + 1) * FRAME_H + BOTTOM_PAD;

    char title[512], sub[1024], target[300], tv[64];
    title_text(title, sizeof(title), o);
    flame_fmt_value(tv, sizeof(tv), o->weight, total);
    if (run->meta->has_info)
        ahp_label_safe(target, sizeof(target), run->meta->info.target,
                       sizeof(run->meta->info.target));
    else
        snprintf(target, sizeof(target), "unknown target");
    snprintf(sub, sizeof(sub), "%s (pid %" PRIu32 ") - %s, total %s", target,
             run->meta->has_info ? run->meta->info.pid : 0, flame_weight_what(o->weight), tv);

    fprintf(out,
            "<?xml version=\"1.0\" standalone=\"no\"?>\n"
            "<svg version=\"1.1\" width=\"%ld\" height=\"%d\" viewBox=\"0 0 %ld %d\" "
            "xmlns=\"http://www.w3.org/2000/svg\" data-charw=\"%.3f\" data-weight=\"%s\" "
            "data-total=\"%" PRIu64 "\" onload=\"init(evt)\">\n",
            o->width, height, o->width, height, CHAR_W, flame_weight_name(o->weight), total);
    fprintf(out, "<title>");
    flame_xml(out, title);
    fprintf(out, "</title>\n");
    fprintf(out,
            "<style type=\"text/css\">\n"
            "text { font-family: monospace; font-size: %dpx; fill: rgb(0,0,0); }\n"
            "#title { text-anchor: middle; font-size: 17px; }\n"
            "#subtitle, #hint { text-anchor: middle; fill: rgb(90,90,90); font-size: 11px; }\n"
            "#unzoom, #search { cursor: pointer; }\n"
            "#search, #matched { text-anchor: end; }\n"
            "#frames g { cursor: pointer; }\n"
            "#frames g:hover rect { stroke: rgb(0,0,0); stroke-width: 0.5; }\n"
            ".hide { display: none; }\n"
            ".parent { opacity: 0.5; }\n"
            "</style>\n",
            FONT_SIZE);
    fprintf(out, "<script type=\"text/ecmascript\"><![CDATA[\n%s]]></script>\n", script);
    fprintf(out,
            "<defs><linearGradient id=\"bg\" y1=\"0\" y2=\"1\" x1=\"0\" x2=\"0\">"
            "<stop stop-color=\"#eeeeee\" offset=\"5%%\"/><stop stop-color=\"#eeeeb0\" "
            "offset=\"95%%\"/></linearGradient></defs>\n"
            "<rect x=\"0\" y=\"0\" width=\"%ld\" height=\"%d\" fill=\"url(#bg)\"/>\n",
            o->width, height);
    fprintf(out, "<text id=\"title\" x=\"%.1f\" y=\"22\">", width / 2);
    flame_xml(out, title);
    fprintf(out, "</text>\n<text id=\"subtitle\" x=\"%.1f\" y=\"40\">", width / 2);
    flame_xml(out, sub);
    fprintf(out,
            "</text>\n<text id=\"hint\" x=\"%.1f\" y=\"56\">width: share of the weight; "
            "upwards: async causality (each frame's resources were created by the frame "
            "below it), not the call stack</text>\n",
            width / 2);
    fprintf(out, "<text id=\"unzoom\" class=\"hide\" x=\"%d\" y=\"22\">Reset Zoom</text>\n", XPAD);
    fprintf(out, "<text id=\"search\" x=\"%.1f\" y=\"22\">Search</text>\n", width - XPAD);
    fprintf(out, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", XPAD, height - 10);
    fprintf(out, "<text id=\"matched\" x=\"%.1f\" y=\"%d\"> </text>\n", width - XPAD, height - 10);
    if (total == 0)
        fprintf(out,
                "<text id=\"empty\" x=\"%.1f\" y=\"%d\" style=\"text-anchor: middle\">"
                "No %s in this recording</text>\n",
                width / 2, TOP_PAD + (int)(L.maxdepth + 1) * FRAME_H / 2,
                o->weight == W_TIME ? "callback time" : flame_weight_what(o->weight));

    fprintf(out, "<g id=\"frames\">\n");
    for (uint32_t i = 0; i < t->nn; i++) {
        if (L.idx[i] == UINT32_MAX)
            continue;
        const struct ftree_node *n = &t->n[i];
        const char *label = t->labels[n->label];
        double x = L.x[i], w = i == 0 && total == 0 ? width - 2 * XPAD : (double)n->total * L.scale;
        double y = height - BOTTOM_PAD - (double)(n->depth + 1) * FRAME_H;
        char value[64], colour[32], shown[AHP_LABEL_SIZE];
        flame_fmt_value(value, sizeof(value), o->weight, n->total);
        double pct = total > 0 ? 100.0 * (double)n->total / (double)total : 0;
        frame_colour(colour, sizeof(colour), t, n);
        fit_label(shown, sizeof(shown), label, w);
        fprintf(out,
                "<g data-i=\"%" PRIu32 "\" data-p=\"%ld\" data-d=\"%" PRIu32 "\" data-v=\"%" PRIu64
                "\"><title>",
                L.idx[i], n->parent == FT_NONE ? -1L : (long)L.idx[n->parent], n->depth, n->total);
        flame_xml(out, label);
        fprintf(out, "\n%s, %.2f%%", value, pct);
        if (n->self != n->total && (o->weight == W_TIME || o->weight == W_OFFCPU)) {
            char self[64];
            flame_fmt_value(self, sizeof(self), o->weight, n->self);
            fprintf(out, " (self %s)", self);
        }
        fprintf(out,
                "</title><rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" fill=\"%s\" "
                "rx=\"2\" ry=\"2\"/><text x=\"%.2f\" y=\"%.1f\">",
                x, y, w, FRAME_H - 1, colour, x + 3, y + FRAME_H - 4.5);
        flame_xml(out, shown);
        fprintf(out, "</text></g>\n");
    }
    fprintf(out, "</g>\n</svg>\n");
    free(L.x);
    free(L.idx);
    return 0;
}
