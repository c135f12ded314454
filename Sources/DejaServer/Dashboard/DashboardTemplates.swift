import Crypto
import Foundation
import Mustache

/// The dashboard's Mustache templates and style sheet, compiled into the binary: nothing is read from
/// disk at run time, and a container needs no resource folder.
///
/// `{{name}}` is HTML-escaped by Mustache; `{{{name}}}` inserts markup Deja made itself (the charts,
/// already escaped, and the style sheet).
enum DashboardTemplates {
    /// The one style sheet, inline; the Content-Security-Policy allows exactly these bytes by hash.
    static let css = """
        :root{--bg:#f7f7f5;--fg:#1d1d1f;--muted:#6b6b70;--card:#fff;--line:#e2e2e0;--hit:#2e9d62;--miss:#3b73c4;\
        --err:#d0443a;--other:#a3a3a8;--billed:#3b73c4;--saved:#2e9d62}
        *{box-sizing:border-box}
        body{margin:0;padding:16px;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",\
        "Noto Sans CJK SC","PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",sans-serif}
        main{max-width:1180px;margin:0 auto}
        header{display:flex;flex-wrap:wrap;gap:8px 20px;align-items:center;justify-content:space-between}
        h1{font-size:22px;margin:0}h2{font-size:17px;margin:22px 0 8px}
        nav{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center}
        nav a[aria-current]{font-weight:600;text-decoration:none;color:var(--fg)}
        a{color:#2a5db0}
        form.inline{display:inline;margin:0}
        button{font:inherit;padding:4px 12px;border:1px solid var(--line);border-radius:6px;background:var(--card);cursor:pointer}
        select,input,textarea{font:inherit;padding:4px 6px;border:1px solid var(--line);border-radius:6px;max-width:100%}
        textarea{width:100%;font-family:ui-monospace,monospace;font-size:13px}
        .who{color:var(--muted);margin:0}
        .period{color:var(--muted);margin:10px 0}
        .cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px}
        .card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 12px}
        .card .label{display:block;color:var(--muted);font-size:13px}
        .card .value{display:block;font-size:22px;font-weight:600}
        .charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:12px;margin-top:12px}
        figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px}
        figcaption{font-weight:600;margin-bottom:6px}
        .legend{font-weight:400;color:var(--muted);font-size:13px;margin-left:8px}
        .sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px}
        svg.chart{width:100%;height:auto;display:block}
        svg .grid{stroke:var(--line);stroke-width:1}
        svg .axis{fill:var(--muted);font-size:12px}
        .hit{fill:var(--hit);background:var(--hit)}.miss{fill:var(--miss);background:var(--miss)}
        .err{fill:var(--err);background:var(--err)}.other{fill:var(--other);background:var(--other)}
        .billed{fill:var(--billed);background:var(--billed)}.saved{fill:var(--saved);background:var(--saved)}
        .scroll{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:10px}
        table{border-collapse:collapse;width:100%;font-size:14px}
        th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
        th:first-child,td:first-child,td.text,th.text{text-align:left}
        tfoot td{font-weight:600}
        code,.key{font-family:ui-monospace,monospace;font-size:13px}
        pre{white-space:pre-wrap;word-break:break-all;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px}
        .bad{color:var(--err)}.good{color:var(--hit)}
        .hint{color:var(--muted);font-size:13px}
        .error{color:var(--err)}
        meter{width:220px}
        .login{max-width:420px;margin:10vh auto;background:var(--card);border:1px solid var(--line);border-radius:12px;padding:22px}
        .login label{display:block;margin:14px 0 4px}.login input{width:100%}.login button{margin-top:12px}
        @media (max-width:600px){body{padding:10px;font-size:14px}.card .value{font-size:19px}th,td{padding:5px 7px}}
        """

    /// The `style-src` source that allows ``css`` and nothing else.
    static let cssSource: String = {
        let digest = SHA256.hash(data: Array(css.utf8))
        return "'sha256-\(Data(digest).base64EncodedString())'"
    }()

    /// Scripts, plugins, frames, fonts and connections from anywhere are refused; styles only by hash;
    /// forms post only to the dashboard itself.
    static let contentSecurityPolicy =
        "default-src 'none'; style-src \(cssSource); img-src 'self' data:; form-action 'self'; "
        + "frame-ancestors 'none'; base-uri 'none'"

    static let layout = """
        <!doctype html>
        <html lang="{{l.lang}}">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <link rel="icon" href="data:,">
        {{#refresh}}<meta http-equiv="refresh" content="30">{{/refresh}}
        <title>{{l.title}}</title>
        <style>{{{css}}}</style>
        </head>
        <body><main>
        {{{content}}}
        </main></body>
        </html>
        """

    static let login = """
        <div class="login">
        <h1>{{l.title}}</h1>
        <form method="post" action="/dashboard/login">
        <input type="hidden" name="lang" value="{{l.lang}}">
        <label for="key">{{l.keyField}}</label>
        <input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
        <button type="submit" id="sign-in">{{l.signIn}}</button>
        {{#failed}}<p class="error" role="alert" id="sign-in-failed">{{l.signInFailed}}</p>{{/failed}}
        <p class="hint">{{l.signInHint}}</p>
        </form>
        <p><a href="{{langLink}}" lang="{{l.otherLang}}">{{l.otherLanguage}}</a></p>
        </div>
        """

    static let header = """
        <header>
        <div><h1>{{l.title}}</h1>
        <p class="who" id="viewer" data-admin="{{isAdmin}}">{{#isAdmin}}{{l.admin}}{{/isAdmin}}{{^isAdmin}}{{l.tenant}} <b>{{tenantName}}</b>{{/isAdmin}}</p></div>
        <nav>
        {{#periods}}<a href="{{href}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a>{{/periods}}
        <a href="{{refreshLink}}" id="refresh">{{l.autoRefresh}}: {{refreshState}}</a>
        <a href="{{langLink}}" lang="{{l.otherLang}}">{{l.otherLanguage}}</a>
        <form method="post" action="/dashboard/logout" class="inline"><button type="submit" id="sign-out">{{l.signOut}}</button></form>
        </nav>
        </header>
        """

    static let dashboard = """
        {{> header}}
        {{#isAdmin}}
        <form method="get" action="/dashboard" class="period">
        {{#hidden}}<input type="hidden" name="{{name}}" value="{{value}}">{{/hidden}}
        <label for="tenant">{{l.tenant}}</label>
        <select id="tenant" name="tenant">{{#tenants}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/tenants}}</select>
        <button type="submit">{{l.show}}</button>
        </form>
        {{/isAdmin}}
        <p class="period" id="period" data-from="{{from}}" data-to="{{to}}" data-tenant="{{tenantValue}}">{{l.periodNote}} {{periodText}}</p>
        <section class="cards" id="totals">
        {{#cards}}<div class="card"><span class="label">{{label}}</span><span class="value" data-field="{{field}}" data-value="{{raw}}">{{value}}</span></div>{{/cards}}
        </section>
        <section class="charts">
        <figure id="requests-chart"><figcaption>{{l.requestsChart}}<span class="legend">{{#requestLegend}}<span class="sw {{cssClass}}"></span>{{name}}{{/requestLegend}}</span></figcaption>{{{requestsChart}}}</figure>
        <figure id="tokens-chart"><figcaption>{{l.tokensChart}}<span class="legend">{{#tokenLegend}}<span class="sw {{cssClass}}"></span>{{name}}{{/tokenLegend}}</span></figcaption>{{{tokensChart}}}</figure>
        </section>
        <h2>{{l.byTask}}</h2>
        {{#hasTasks}}<div class="scroll"><table id="tasks">
        <thead><tr><th>{{l.task}}</th>{{#columns}}<th>{{.}}</th>{{/columns}}</tr></thead>
        <tbody>{{#tasks}}<tr data-task="{{name}}"><td class="text">{{name}}</td>{{#cells}}<td data-field="{{field}}" data-value="{{raw}}">{{value}}</td>{{/cells}}</tr>{{/tasks}}</tbody>
        <tfoot>{{#total}}<tr data-task=""><td class="text">{{l.total}}</td>{{#cells}}<td data-field="{{field}}" data-value="{{raw}}">{{value}}</td>{{/cells}}</tr>{{/total}}</tfoot>
        </table></div>{{/hasTasks}}
        {{^hasTasks}}<p class="hint">{{l.nothing}}</p>{{/hasTasks}}
        <h2>{{l.repeated}}</h2>
        {{#hasRepeated}}<div class="scroll"><table id="repeated">
        <thead><tr><th>{{l.contentKey}}</th><th class="text">{{l.task}}</th><th>{{l.requests}}</th><th>{{l.fromCache}}</th><th>{{l.savedTokens}}</th><th class="text">{{l.firstSeen}}</th><th class="text">{{l.lastSeen}}</th></tr></thead>
        <tbody>{{#repeated}}<tr data-key="{{key}}"><td class="text"><a href="{{href}}" title="{{l.explain}}"><code>{{prefix}}</code></a></td><td class="text">{{task}}</td><td data-field="requests" data-value="{{requests}}">{{requestsText}}</td><td data-field="cached" data-value="{{cached}}">{{cachedText}}</td><td data-field="saved" data-value="{{saved}}">{{savedText}}</td><td class="text">{{firstSeen}}</td><td class="text">{{lastSeen}}</td></tr>{{/repeated}}</tbody>
        </table></div>{{/hasRepeated}}
        {{^hasRepeated}}<p class="hint">{{l.nothing}}</p>{{/hasRepeated}}
        <h2>{{l.errorsByKind}}</h2>
        {{#hasErrors}}<div class="scroll"><table id="errors">
        <thead><tr><th>{{l.task}}</th><th>{{l.status}}</th><th class="text">{{l.kind}}</th><th>{{l.errors}}</th></tr></thead>
        <tbody>{{#errors}}<tr data-task="{{task}}" data-status="{{status}}"><td class="text">{{task}}</td><td>{{status}}</td><td class="text">{{kind}}</td><td data-field="errors" data-value="{{count}}">{{countText}}</td></tr>{{/errors}}</tbody>
        </table></div>{{/hasErrors}}
        {{^hasErrors}}<p class="hint">{{l.nothing}}</p>{{/hasErrors}}
        {{#operations}}
        <h2>{{l.cache}}</h2>
        <div class="scroll"><table id="cache"><tbody>
        {{#memory}}<tr><td class="text">{{l.memoryTier}}</td><td class="text"><meter min="0" max="{{budget}}" value="{{used}}"></meter></td><td>{{l.used}} {{usedText}} / {{l.budget}} {{budgetText}}</td><td>{{l.entries}} {{entries}}</td></tr>{{/memory}}
        <tr><td class="text">{{l.store}}</td><td class="text" colspan="3">{{store}}</td></tr>
        {{#redis}}<tr><td class="text">{{l.redisMemory}}</td><td class="text">{{#limited}}<meter min="0" max="{{max}}" value="{{used}}"></meter>{{/limited}}</td><td colspan="2">{{usedText}} / {{maxText}}</td></tr>{{/redis}}
        </tbody></table></div>
        <h2>{{l.modelServers}}</h2>
        <div class="scroll"><table id="servers">
        <thead><tr><th>{{l.task}}</th><th class="text">{{l.server}}</th><th class="text">{{l.health}}</th><th class="text">{{l.breaker}}</th></tr></thead>
        <tbody>{{#servers}}<tr><td class="text">{{task}}</td><td class="text"><code>{{url}}</code></td><td class="text {{healthClass}}">{{health}}</td><td class="text {{breakerClass}}">{{breaker}}</td></tr>{{/servers}}</tbody>
        </table></div>
        {{/operations}}
        """

    static let key = """
        {{> header}}
        <p><a href="{{backLink}}">← {{l.back}}</a></p>
        <h2>{{l.contentKey}}</h2>
        <p><code class="key" id="content-key">{{key}}</code></p>
        <p class="period" id="period" data-from="{{from}}" data-to="{{to}}">{{l.periodNote}} {{periodText}}</p>
        {{#hasStats}}<div class="scroll"><table id="key-stats">
        <thead><tr><th class="text">{{l.task}}</th><th>{{l.requests}}</th><th>{{l.fromCache}}</th><th>{{l.savedTokens}}</th><th class="text">{{l.firstSeen}}</th><th class="text">{{l.lastSeen}}</th></tr></thead>
        <tbody>{{#stats}}<tr><td class="text">{{task}}</td><td data-field="requests" data-value="{{requests}}">{{requestsText}}</td><td data-field="cached" data-value="{{cached}}">{{cachedText}}</td><td data-field="saved" data-value="{{saved}}">{{savedText}}</td><td class="text">{{firstSeen}}</td><td class="text">{{lastSeen}}</td></tr>{{/stats}}</tbody>
        </table></div>{{/hasStats}}
        {{^hasStats}}<p class="hint">{{l.keyNotSeen}}</p>{{/hasStats}}
        {{#memory}}<p id="memory">{{l.inMemory}}: {{l.expires}} {{expires}} · {{l.size}} {{size}}</p>{{/memory}}
        {{^memory}}<p id="memory">{{l.notInMemory}}</p>{{/memory}}
        <h2>{{l.explain}}</h2>
        <p class="hint">{{l.explainHint}}</p>
        <form method="post" action="{{explainAction}}">
        <label for="task">{{l.task}}</label>
        <select id="task" name="task">{{#taskOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/taskOptions}}</select>
        {{#isAdmin}}<label for="explain-tenant">{{l.tenant}}</label> <input id="explain-tenant" name="tenant" value="{{explainTenant}}">{{/isAdmin}}
        <p><label for="body">{{l.requestBody}}</label></p>
        <textarea id="body" name="body" rows="8" required>{{body}}</textarea>
        <p><button type="submit" id="explain">{{l.explain}}</button></p>
        </form>
        {{#explanation}}
        <p id="verdict" class="{{verdictClass}}" data-same="{{same}}">{{verdict}}: <code>{{key}}</code></p>
        <h2>{{l.steps}}</h2>
        <ol id="steps">{{#steps}}<li>{{.}}</li>{{/steps}}</ol>
        {{#hasTextChanges}}<h2>{{l.textChanges}}</h2><div class="scroll"><table><tbody>{{#textChanges}}<tr><td class="text"><code>{{path}}</code></td><td class="text">{{rule}}</td><td class="text"><code>{{before}}</code></td><td class="text"><code>{{after}}</code></td></tr>{{/textChanges}}</tbody></table></div>{{/hasTextChanges}}
        <h2>{{l.canonicalForm}}</h2>
        <pre id="canonical">{{canonicalForm}}</pre>
        {{/explanation}}
        {{#explainError}}<p class="error" role="alert" id="explain-error">{{.}}</p>{{/explainError}}
        <p class="hint">{{l.cliHint}} <code>deja explain --route {{route}} --tenant {{explainTenant}} request.json</code></p>
        """

    /// The templates, parsed once; `header` is a partial of the dashboard and key pages.
    static let library: MustacheLibrary = {
        do {
            return try MustacheLibrary(templates: [
                "layout": MustacheTemplate(string: layout),
                "login": MustacheTemplate(string: login),
                "header": MustacheTemplate(string: header),
                "dashboard": MustacheTemplate(string: dashboard),
                "key": MustacheTemplate(string: key),
            ])
        } catch {
            // The templates are constants of this file; a test renders each of them.
            fatalError("a dashboard template does not parse: \(error)")
        }
    }()
}
