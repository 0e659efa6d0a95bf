/** Execution for the helm-template subset: nodes + values → text. */
import { functions } from './functions.ts';
import { parseTemplate, type Expr, type Node, type Pipe } from './parse.ts';
import { ChartFiles, fail, isMap, print, truthy, type Scope, type Value } from './values.ts';

export class Engine {
  private readonly defines = new Map<string, Node[]>();

  parse(src: string, file: string): Node[] {
    return parseTemplate(src, file, this.defines);
  }

  run(nodes: readonly Node[], root: Value, file: string): string {
    const scope: Scope = new Map([['$', root]]);
    try {
      return this.exec(nodes, root, scope);
    } catch (err) {
      throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
    }
  }

  private exec(nodes: readonly Node[], dot: Value, scope: Scope): string {
    let out = '';
    for (const n of nodes) {
      switch (n.kind) {
        case 'text':
          out += n.text;
          break;
        case 'out': {
          const v = this.pipe(n.pipe, dot, scope, n.at);
          if (!n.pipe.decl) out += print(v);
          break;
        }
        case 'if': {
          const hit = n.branches.find((b) => truthy(this.pipe(b.cond, dot, scope, n.at)));
          out += this.exec(hit ? hit.body : n.otherwise, dot, new Map(scope));
          break;
        }
        case 'with': {
          const v = this.pipe(n.value, dot, scope, n.at);
          out += truthy(v)
            ? this.exec(n.body, v, new Map(scope))
            : this.exec(n.otherwise, dot, new Map(scope));
          break;
        }
        case 'range': {
          const v = this.pipe(n.value, dot, scope, n.at);
          const entries: [Value, Value][] = Array.isArray(v)
            ? v.map((e, i) => [i, e])
            : isMap(v)
              ? Object.keys(v)
                  .sort()
                  .map((k) => [k, v[k]])
              : v === undefined || v === null
                ? []
                : fail(`${n.at}: range over ${typeof v}`);
          if (entries.length === 0) out += this.exec(n.otherwise, dot, new Map(scope));
          for (const [k, e] of entries) {
            const inner = new Map(scope);
            if (n.vars.length === 1) inner.set(n.vars[0] as string, e);
            if (n.vars.length === 2) {
              inner.set(n.vars[0] as string, k);
              inner.set(n.vars[1] as string, e);
            }
            out += this.exec(n.body, e, inner);
          }
          break;
        }
        case 'template':
          out += this.include(n.name, n.arg ? this.pipe(n.arg, dot, scope, n.at) : undefined, n.at);
          break;
      }
    }
    return out;
  }

  private include(name: string, arg: Value, at: string): string {
    const body = this.defines.get(name);
    if (!body) throw new Error(`${at}: no template "${name}" defined`);
    return this.exec(body, arg, new Map([['$', arg]]));
  }

  private pipe(p: Pipe, dot: Value, scope: Scope, at: string): Value {
    let acc: Value;
    let first = true;
    for (const cmd of p.commands) {
      acc = this.command(cmd, dot, scope, at, first ? [] : [acc]);
      first = false;
    }
    if (p.decl) {
      if (!p.decl.define && !scope.has(p.decl.name))
        throw new Error(`${at}: undefined variable ${p.decl.name}`);
      scope.set(p.decl.name, acc);
    }
    return acc;
  }

  private command(cmd: readonly Expr[], dot: Value, scope: Scope, at: string, piped: Value[]): Value {
    const [head, ...rest] = cmd;
    if (!head) throw new Error(`${at}: empty command`);
    if (head.kind === 'ident' && !['true', 'false', 'nil'].includes(head.name)) {
      if (head.name === 'include') {
        const [name, arg] = [...rest.map((e) => this.operand(e, dot, scope, at)), ...piped];
        return this.include(String(name), arg, at);
      }
      const fn = functions[head.name];
      if (!fn) throw new Error(`${at}: function "${head.name}" is not in the supported subset`);
      return fn(at, ...rest.map((e) => this.operand(e, dot, scope, at)), ...piped);
    }
    if (head.kind === 'field' && rest.length + piped.length > 0) {
      // A method call: .Files.Get "path"
      const recv = this.resolve({ ...head, path: head.path.slice(0, -1) }, dot, scope, at);
      const method = head.path[head.path.length - 1] as string;
      if (recv instanceof ChartFiles && (method === 'Get' || method === 'Glob')) {
        const [arg] = [...rest.map((e) => this.operand(e, dot, scope, at)), ...piped];
        return recv[method](String(arg));
      }
      throw new Error(`${at}: ${method} is not a method`);
    }
    if (rest.length + piped.length > 0) throw new Error(`${at}: cannot give arguments to a value`);
    return this.operand(head, dot, scope, at);
  }

  private operand(e: Expr, dot: Value, scope: Scope, at: string): Value {
    switch (e.kind) {
      case 'lit':
        return e.value;
      case 'ident':
        if (e.name === 'true') return true;
        if (e.name === 'false') return false;
        if (e.name === 'nil') return null;
        return this.command([e], dot, scope, at, []);
      case 'paren':
        return this.pipe(e.pipe, dot, scope, at);
      case 'field':
        return this.resolve(e, dot, scope, at);
    }
  }

  private resolve(e: Extract<Expr, { kind: 'field' }>, dot: Value, scope: Scope, at: string): Value {
    let v: Value;
    if (e.base === 'dot') v = dot;
    else {
      const name = e.base === 'root' ? '$' : e.base;
      if (!scope.has(name)) throw new Error(`${at}: undefined variable ${name}`);
      v = scope.get(name);
    }
    for (const [i, key] of e.path.entries()) {
      if (v === undefined || v === null) {
        throw new Error(`${at}: nil pointer evaluating .${e.path.slice(0, i + 1).join('.')}`);
      }
      if (v instanceof ChartFiles) throw new Error(`${at}: .Files.${key} is not supported`);
      if (!isMap(v)) throw new Error(`${at}: can't evaluate field ${key} in ${typeof v}`);
      v = v[key];
    }
    return v;
  }
}
