/*
 * /docs: a readable view of /openapi.json for people. One self-contained page
 * (inline CSS and JS, no fonts or scripts from anywhere else: nothing may
 * leave the machine).
 */
#include <string.h>

#include "api/api.h"

static const char PAGE[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>RustyGPT API</title>\n"
    "<style>\n"
    "body{font:15px/1.5 system-ui,-apple-system,Segoe "
    "UI,Roboto,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}\n"
    "header{background:#1b1f24;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}\n"
    "header p{margin:4px 0 0;color:#b8c0cc}main{max-width:980px;margin:0 auto;padding:16px 24px}\n"
    "h2{font-size:16px;text-transform:uppercase;letter-spacing:.05em;color:#57606a;margin:28px 0 "
    "8px}\n"
    "details{background:#fff;border:1px solid #d8dee4;border-radius:6px;margin:6px 0}\n"
    "summary{cursor:pointer;padding:8px 12px;display:flex;gap:12px;align-items:center}\n"
    ".m{font:600 12px ui-monospace,monospace;padding:2px "
    "8px;border-radius:4px;color:#fff;min-width:52px;text-align:center}\n"
    ".get{background:#1f6feb}.post{background:#2da44e}.put{background:#bf8700}.patch{background:#"
    "8250df}.delete{background:#cf222e}\n"
    ".p{font-family:ui-monospace,monospace}.s{color:#57606a}.lock{margin-left:auto;color:#57606a;"
    "font-size:12px}\n"
    ".body{padding:4px 16px 12px;border-top:1px solid "
    "#eaeef2}pre{background:#f6f8fa;padding:8px;border-radius:4px;overflow:auto;font-size:12px}\n"
    "button{font:inherit;padding:4px 12px;border:1px solid "
    "#d0d7de;border-radius:4px;background:#f6f8fa;cursor:pointer}\n"
    "</style></head><body>\n"
    "<header><h1>RustyGPT API</h1><p id=\"sub\">loading /openapi.json&hellip;</p></header>\n"
    "<main id=\"main\"></main>\n"
    "<script>\n"
    "'use strict';\n"
    "const el=(t,a={},...kids)=>{const e=document.createElement(t);for(const[k,v]of "
    "Object.entries(a))e.setAttribute(k,v);"
    "for(const k of kids)e.append(k);return e;};\n"
    "const pretty=o=>JSON.stringify(o,null,2);\n"
    "async function tryIt(path,out){out.textContent='\\u2026';try{const r=await fetch(path);"
    "const t=await r.text();let b=t;try{b=pretty(JSON.parse(t));}catch(e){}"
    "out.textContent=r.status+' '+r.statusText+'\\n\\n'+b;}catch(e){out.textContent=String(e);}}\n"
    "function op(path,method,o){const d=el('details');const s=el('summary');\n"
    "s.append(el('span',{class:'m "
    "'+method},method.toUpperCase()),el('span',{class:'p'},path),el('span',{class:'s'},o.summary||'"
    "'));\n"
    "if(o.security)s.append(el('span',{class:'lock'},'needs a bearer token'));d.append(s);\n"
    "const b=el('div',{class:'body'});\n"
    "if(o.parameters){b.append(el('h4',{},'Path parameters'));for(const p of "
    "o.parameters)b.append(el('div',{class:'p'},p.name+' ('+p.schema.type+')'));}\n"
    "const rb=o.requestBody&&o.requestBody.content['application/json'];\n"
    "if(rb){b.append(el('h4',{},'Request body "
    "(application/json)'),el('pre',{},pretty(rb.schema)));}\n"
    "const ok=o.responses['200'];if(ok&&ok.content){for(const[ct,c]of Object.entries(ok.content)){"
    "b.append(el('h4',{},'200 response ('+ct+')'),el('pre',{},pretty(c.schema)));}}\n"
    "b.append(el('h4',{},'Errors'),el('div',{class:'s'},'{\"error\":{\"message\",\"type\","
    "\"param\",\"code\"}}'));\n"
    "if(method==='get'&&!path.includes('{')){const out=el('pre');const btn=el('button',{},'Try "
    "it');"
    "btn.onclick=()=>tryIt(path,out);b.append(el('p',{},btn),out);}\n"
    "d.append(b);return d;}\n"
    "async function main(){const m=document.getElementById('main');let doc;\n"
    "try{doc=await (await "
    "fetch('/openapi.json')).json();}catch(e){document.getElementById('sub').textContent="
    "'could not load /openapi.json: '+e;return;}\n"
    "document.getElementById('sub').textContent=(doc.info.description||'')+' Version "
    "'+doc.info.version+'.';\n"
    "const byTag={};for(const[path,item]of Object.entries(doc.paths))for(const[method,o]of "
    "Object.entries(item)){"
    "const t=(o.tags&&o.tags[0])||'other';(byTag[t]=byTag[t]||[]).push([path,method,o]);}\n"
    "for(const[t,ops]of Object.entries(byTag)){m.append(el('h2',{},t));for(const[p,me,o]of "
    "ops)m.append(op(p,me,o));}}\n"
    "main();\n"
    "</script></body></html>\n";

static void docs(struct rg_http_req *r, void *ctx)
{
    (void)ctx;
    rg_http_set_header(r, "Content-Security-Policy",
                       "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                       "connect-src 'self'; img-src 'self'");
    rg_http_reply(r, 200, "text/html; charset=utf-8", PAGE, sizeof PAGE - 1);
}

size_t rg_api_docs_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    (void)st;
    if (max < 1) return 0;
    out[0] = (struct rg_route){RG_HTTP_GET,    "/docs",
                               docs,           NULL,
                               RG_ROLE_PUBLIC, 0,
                               "system",       "This page: the API description for people",
                               NULL,           "{\"type\":\"string\",\"description\":\"HTML\"}"};
    return 1;
}
