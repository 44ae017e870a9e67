/**
 * Generates a deterministic Java source tree of `count` small classes that
 * reference each other (fields, calls across packages, an interface, generics,
 * lambdas, a record each), for the javac benchmark.  Same count, same bytes.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';

const PACKAGES = 8;

function pkgOf(i) {
  return `bench.p${i % PACKAGES}`;
}

function classSource(i, count) {
  const a = (i * 7 + 3) % count;
  const b = (i * 13 + 5) % count;
  const c = (i * 31 + 11) % count;
  const ref = (j) => `${pkgOf(j)}.C${j}`;
  return `package ${pkgOf(i)};

import bench.Shape;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;

/** Generated class ${i} of ${count}. */
public final class C${i} implements Shape<Integer> {
    public record Pair${i}(String name, long value) {}

    private final List<Pair${i}> items = new ArrayList<>();
    private final Map<String, Integer> index = new TreeMap<>();
    private ${ref(a)} next;
    private int depth;

    public C${i}(int depth) {
        this.depth = depth;
    }

    public static C${i} make(int depth) {
        return new C${i}(depth);
    }

    @Override
    public Integer area() {
        int total = ${i};
        for (Pair${i} p : items) {
            total += (int) (p.value() % 97) + p.name().length();
        }
        return total;
    }

    public long step(long x) {
        if (depth <= 0) {
            return x * ${(i % 17) + 1} + ${i};
        }
        if (next == null) {
            next = ${ref(a)}.make(depth - 1);
        }
        return next.step(x + ${i}) ^ ${ref(b)}.weight(x, depth - 1);
    }

    public static long weight(long x, int depth) {
        Function<Long, Long> f = v -> v * 31 + ${i};
        long acc = f.apply(x);
        if (depth > 0) {
            acc += ${ref(c)}.weight(acc & 0xffff, depth - 1);
        }
        return acc;
    }

    public C${i} add(String name, long value) {
        items.add(new Pair${i}(name, value));
        index.merge(name, 1, Integer::sum);
        return this;
    }

    public String describe() {
        StringBuilder sb = new StringBuilder("C${i}[");
        items.stream()
            .filter(p -> p.value() > ${i % 5})
            .map(p -> p.name() + "=" + p.value())
            .sorted()
            .forEach(s -> sb.append(s).append(','));
        return sb.append(']').toString();
    }

    public int kind() {
        return switch (depth % 4) {
            case 0 -> ${a};
            case 1 -> ${b};
            case 2 -> ${c};
            default -> index.size();
        };
    }
}
`;
}

/** Writes the tree under `dir` (src/**.java plus sources.txt, sorted); returns the file count. */
export async function generateJava(dir, count) {
  const src = path.join(dir, 'src');
  await fs.mkdir(path.join(src, 'bench'), { recursive: true });
  const files = [];
  await fs.writeFile(
    path.join(src, 'bench', 'Shape.java'),
    'package bench;\n\n/** Generated interface. */\npublic interface Shape<T extends Number> {\n    T area();\n\n    default double scaled(double k) {\n        return area().doubleValue() * k;\n    }\n}\n',
  );
  files.push('src/bench/Shape.java');
  for (let p = 0; p < PACKAGES; p++) await fs.mkdir(path.join(src, 'bench', `p${p}`), { recursive: true });
  for (let i = 0; i < count; i++) {
    const rel = `src/bench/p${i % PACKAGES}/C${i}.java`;
    await fs.writeFile(path.join(dir, rel), classSource(i, count));
    files.push(rel);
  }
  files.sort();
  await fs.writeFile(path.join(dir, 'sources.txt'), `${files.join('\n')}\n`);
  return files.length;
}
