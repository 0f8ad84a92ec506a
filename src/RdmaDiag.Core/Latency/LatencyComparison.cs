using System.Globalization;

namespace RdmaDiag.Latency;

public enum LatencyPathKind
{
    /// <summary>RdmaDiag's userspace iWARP endpoint against a soft latency responder.</summary>
    Soft,

    /// <summary>An RDMA device through libibverbs.</summary>
    Verbs,

    /// <summary>Raw TCP ping-pong against a tcp latency responder, standing in for every RDMA mode.</summary>
    Tcp,
}

/// <summary>
/// One side of `rdmadiag compare`, parsed from a SPEC: <c>soft</c>, <c>soft:HOST[:PORT]</c>,
/// <c>soft+crc[:HOST[:PORT]]</c> (MPA CRCs required on this path), <c>verbs[:DEV]@HOST[:PORT]</c>
/// (a verbs responder, `rdmadiag latency serve --verbs`, at HOST), <c>tcp[:HOST[:PORT]]</c>. An IPv6 HOST
/// with a PORT goes in brackets: <c>soft:[fd00::2]:18516</c>. Without HOST the path runs against an
/// in-process responder on loopback (soft and tcp only: a verbs responder needs a device of its own).
/// </summary>
public sealed record LatencyPath(LatencyPathKind Kind, string Spec, string? Host = null, int Port = 0, bool Crc = false, string? Device = null)
{
    /// <exception cref="UserInputException">the SPEC names no known path.</exception>
    public static LatencyPath Parse(string option, string spec)
    {
        var text = spec.Trim();
        var at = text.IndexOf('@');
        var target = at < 0 ? null : text[(at + 1)..];
        var head = at < 0 ? text : text[..at];
        var colon = head.IndexOf(':');
        var kindText = (colon < 0 ? head : head[..colon]).ToLowerInvariant();
        var rest = colon < 0 ? "" : head[(colon + 1)..];
        var crc = kindText.EndsWith("+crc", StringComparison.Ordinal);
        if (crc)
        {
            kindText = kindText[..^"+crc".Length];
        }
        var kind = kindText switch
        {
            "soft" => LatencyPathKind.Soft,
            "verbs" => LatencyPathKind.Verbs,
            "tcp" => LatencyPathKind.Tcp,
            _ => throw new UserInputException($"{option} '{spec}': expected soft, soft:HOST, soft+crc:HOST, verbs:DEV, verbs@HOST or tcp:HOST"),
        };
        if (target is not null && kind != LatencyPathKind.Verbs)
        {
            throw new UserInputException($"{option} '{spec}': @HOST belongs to verbs paths; a {kindText} path takes :HOST");
        }
        if (crc && kind != LatencyPathKind.Soft)
        {
            throw new UserInputException($"{option} '{spec}': +crc applies to soft paths only (MPA CRCs of the userspace endpoint)");
        }
        if (kind == LatencyPathKind.Verbs)
        {
            var device = rest.Length == 0 ? null : rest;
            if (target is null)
            {
                return new LatencyPath(kind, text, Device: device);
            }
            var (verbsHost, verbsPort) = SplitHostPort(option, spec, target);
            return new LatencyPath(kind, text, verbsHost, verbsPort, Device: device);
        }
        if (rest.Length == 0)
        {
            return new LatencyPath(kind, text, Crc: crc);
        }
        var (host, port) = SplitHostPort(option, spec, rest);
        return new LatencyPath(kind, text, host, port, crc);
    }

    private static (string Host, int Port) SplitHostPort(string option, string spec, string rest)
    {
        string host;
        string? port = null;
        if (rest.StartsWith('['))
        {
            var close = rest.IndexOf(']');
            if (close < 0 || (close + 1 < rest.Length && rest[close + 1] != ':'))
            {
                throw new UserInputException($"{option} '{spec}': expected [IPv6]:PORT after the path kind");
            }
            host = rest[1..close];
            port = close + 1 < rest.Length ? rest[(close + 2)..] : null;
        }
        else if (rest.Count(c => c == ':') == 1)
        {
            host = rest[..rest.IndexOf(':')];
            port = rest[(rest.IndexOf(':') + 1)..];
        }
        else
        {
            host = rest;
        }
        if (host.Length == 0)
        {
            throw new UserInputException($"{option} '{spec}': the HOST after the path kind is empty");
        }
        if (port is null)
        {
            return (host, 0);
        }
        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number is < 1 or > 65535)
        {
            throw new UserInputException($"{option} '{spec}': port '{port}': expected 1 to 65535");
        }
        return (host, number);
    }
}

/// <summary>One mode and size measured on both paths; ratios are B over A (above 1: B is slower).</summary>
public sealed record ComparisonRow(string Mode, int Size, LatencySeries A, LatencySeries B)
{
    public double? RatioP50 => Ratio(A.Statistics.P50, B.Statistics.P50);

    public double? RatioP99 => Ratio(A.Statistics.P99, B.Statistics.P99);

    public double? RatioP999 => Ratio(A.Statistics.P999, B.Statistics.P999);

    private static double? Ratio(long a, long b) => a > 0 && b > 0 ? (double)b / a : null;
}

/// <summary>What one path of a comparison produced: every series it measured and its notes.</summary>
public sealed record ComparedPath(LatencyPath Path, IReadOnlyList<string> Notes, IReadOnlyList<LatencySeries> Series);

/// <summary>
/// `rdmadiag compare`: the same modes and sizes measured on two paths, one after the other (all of A,
/// then all of B), paired row by row.
/// </summary>
public sealed record LatencyComparison(
    ComparedPath A,
    ComparedPath B,
    LatencyRunSettings Settings,
    MeasurementOverhead Overhead,
    IReadOnlyList<ComparisonRow> Rows)
{
    /// <summary>The RDMA modes named, or all three; a tcp path measures TCP ping-pong in their place.</summary>
    public static IReadOnlyList<RdmaLatencyMode> ParseModes(IReadOnlyList<string> words)
    {
        var rdma = LatencyModeCatalog.All.OfType<RdmaLatencyMode>().ToList();
        if (words.Count == 0)
        {
            return rdma;
        }
        var modes = new List<RdmaLatencyMode>();
        foreach (var word in words.SelectMany(w => w.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
        {
            var mode = rdma.FirstOrDefault(m => string.Equals(m.Name, word, StringComparison.OrdinalIgnoreCase))
                ?? throw new UserInputException($"MODE '{word}': compare runs {string.Join(", ", rdma.Select(m => m.Name))} on both paths (a tcp:HOST path measures TCP ping-pong in their place)");
            if (!modes.Contains(mode))
            {
                modes.Add(mode);
            }
        }
        return modes;
    }

    /// <exception cref="LatencyUnavailableException">a verbs path, before anything is measured.</exception>
    public static LatencyComparison Run(LatencyPath a, LatencyPath b, IReadOnlyList<RdmaLatencyMode> modes, LatencyRunSettings settings)
    {
        foreach (var path in new[] { a, b }.Where(p => p.Kind == LatencyPathKind.Verbs))
        {
            VerbsTransport.CheckAvailable(path.Device);
        }
        var (pathA, overhead) = Measure(a, modes, settings);
        var (pathB, _) = Measure(b, modes, settings);
        var names = a.Kind == LatencyPathKind.Tcp && b.Kind == LatencyPathKind.Tcp ? ["tcp"] : modes.Select(m => m.Name).ToList();
        var rows = new List<ComparisonRow>();
        foreach (var name in names)
        {
            foreach (var size in settings.Sizes)
            {
                rows.Add(new ComparisonRow(name, size, Find(pathA, name, size), Find(pathB, name, size)));
            }
        }
        return new LatencyComparison(pathA, pathB, settings, overhead, rows);
    }

    /// <summary>
    /// Every measured series once, for one overlaid picture, relabelled by side and path:
    /// "A soft send 64 B", "B tcp:10.0.0.2 64 B" (a tcp path's ping-pong appears once per size).
    /// </summary>
    public IReadOnlyList<LatencySeries> Overlay()
    {
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var overlay = new List<LatencySeries>();
        foreach (var row in Rows)
        {
            foreach (var (side, path, series) in new[] { ("A", A, row.A), ("B", B, row.B) })
            {
                if (seen.Add(series))
                {
                    overlay.Add(series with { Mode = $"{side} {path.Path.Spec}", Variant = path.Path.Kind == LatencyPathKind.Tcp ? "" : series.Mode });
                }
            }
        }
        return overlay;
    }

    /// <summary>The series of one path under the row's mode: a tcp path's ping-pong answers for every mode.</summary>
    private static LatencySeries Find(ComparedPath path, string mode, int size) =>
        path.Series.First(s => s.Size == size && (s.Mode == mode || path.Path.Kind == LatencyPathKind.Tcp));

    private static (ComparedPath Path, MeasurementOverhead Overhead) Measure(LatencyPath path, IReadOnlyList<RdmaLatencyMode> modes, LatencyRunSettings settings)
    {
        var run = settings with
        {
            Host = path.Host,
            Port = path.Port,
            Crc = settings.Crc || path.Crc,
            Transport = path.Kind == LatencyPathKind.Verbs ? RdmaTransport.Verbs : RdmaTransport.Soft,
            VerbsDevice = path.Device,
        };
        var runs = path.Kind == LatencyPathKind.Tcp ? [new TcpPingPongMode()] : modes.Cast<ILatencyMode>().ToList();
        var notes = new List<string>();
        var series = new List<LatencySeries>();
        MeasurementOverhead? overhead = null;
        foreach (var mode in runs)
        {
            var report = LatencyRunner.Run(mode, run);
            overhead ??= report.Overhead;
            notes.AddRange(report.Notes);
            series.AddRange(report.Series);
        }
        if (path.Kind == LatencyPathKind.Tcp)
        {
            notes.Add($"tcp ping-pong (RTT/2) stands in for {string.Join(", ", modes.Select(m => m.Name))} on this path");
        }
        return (new ComparedPath(path, notes, series), overhead!);
    }
}
