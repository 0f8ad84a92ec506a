using System.Diagnostics;
using System.Globalization;
using RdmaDiag.Capture.Iwarp.Synth;
using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Capture.Iwarp;

/// <summary>Rates measured for one decoder run: wall clock and CPU time of the process that did the work.</summary>
public sealed record DecodeRate(long Packets, long Fpdus, long Octets, double WallSeconds, double CpuSeconds)
{
    public double PacketsPerSecond => Packets / WallSeconds;
    public double FpdusPerSecond => Fpdus / WallSeconds;
    public double PacketsPerCpuSecond => Packets / CpuSeconds;
    public double FpdusPerCpuSecond => Fpdus / CpuSeconds;
    public double MegabytesPerSecond => Octets / WallSeconds / 1e6;
}

/// <summary>What <c>rdmadiag bench decode</c> measured; <paramref name="Runs"/> are the timed decodes of the capture, in order.</summary>
public sealed record DecodeBenchmarkResult(
    BenchCaptureInfo Capture, IReadOnlyList<DecodeRate> Runs, long PeakRssBytes, long SmallPeakRssBytes, long SmallFpdus, long AllocatedBytes,
    DecodeRate? Tshark, string? TsharkNote)
{
    /// <summary>The run with the median wall time.</summary>
    public DecodeRate Ours => Runs.OrderBy(r => r.WallSeconds).ElementAt(Runs.Count / 2);
}

/// <summary>
/// The decode benchmark: generates a capture (<see cref="BenchCapture"/>), decodes it after a warm-up, reads the
/// peak RSS (VmHWM, reset before each decode) and times <c>tshark -r FILE -T fields -e iwarp_rdma.opcode</c> on the
/// same file. CPU seconds come from /proc (this process; for tshark, the reaped children's times), so the
/// numbers stay comparable when other work shares the machine.
/// </summary>
public static class DecodeBenchmark
{
    /// <summary>tshark is timed on at most this many FPDUs (a capture made the same way); its rates are per second, so they compare directly.</summary>
    public const long TsharkMaxFpdus = 1 << 20;

    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(3);

    /// <summary>Timed decodes of the benchmark capture.</summary>
    public const int Runs = 5;

    public static DecodeBenchmarkResult Run(long fpdus, bool runTshark, TextWriter progress)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"rdmadiag-bench-decode-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            var small = Math.Max(100_000, fpdus / 8);
            progress.WriteLine($"generating {fpdus} FPDUs (and a {small}-FPDU warm-up capture) in {dir} ...");
            var warmup = BenchCapture.Write(Path.Combine(dir, "warmup.pcapng"), small);
            var main = BenchCapture.Write(Path.Combine(dir, "bench.pcapng"), fpdus);

            // Tiered compilation installs the optimized code some time after the first passes (later on a busy
            // machine): keep decoding the warm-up capture for a few seconds before anything is timed.
            var warming = Stopwatch.StartNew();
            for (var pass = 0; pass < 8 || warming.Elapsed < WarmUp; pass++)
            {
                Decode(warmup.Path);
            }
            ResetPeakRss();
            Decode(warmup.Path);
            var smallRss = PeakRss();

            ResetPeakRss();
            var allocated = GC.GetAllocatedBytesForCurrentThread();
            var runs = new List<DecodeRate> { Decode(main.Path) };
            allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
            var rss = PeakRss();
            while (runs.Count < Runs)
            {
                runs.Add(Decode(main.Path));
            }

            DecodeRate? tshark = null;
            string? note = null;
            if (runTshark)
            {
                var target = main;
                if (fpdus > TsharkMaxFpdus)
                {
                    target = BenchCapture.Write(Path.Combine(dir, "tshark.pcapng"), TsharkMaxFpdus);
                    note = $"tshark timed on a capture of the first {TsharkMaxFpdus} FPDUs made the same way (rates per second compare directly)";
                }
                progress.WriteLine($"running tshark on {target.Fpdus} FPDUs ...");
                (tshark, var why) = Tshark(target);
                note = why ?? note;
            }
            return new DecodeBenchmarkResult(main, runs, rss, smallRss, warmup.Fpdus, allocated, tshark, note);
        }
        finally
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // A leftover temporary file does not change the result.
            }
        }
    }

    private static DecodeRate Decode(string path)
    {
        var cpu = ProcessCpuSeconds();
        var clock = Stopwatch.StartNew();
        var summary = new IwarpCaptureDecoder(new FindingList()).DecodeFile(path);
        var wall = clock.Elapsed.TotalSeconds;
        return new DecodeRate(summary.Counters.Packets, summary.Fpdus, new FileInfo(path).Length, wall, ProcessCpuSeconds() - cpu);
    }

    private static (DecodeRate? Rate, string? Why) Tshark(BenchCaptureInfo capture)
    {
        var psi = new ProcessStartInfo("tshark") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["-r", capture.Path, "-T", "fields", "-e", "iwarp_rdma.opcode"])
        {
            psi.ArgumentList.Add(a);
        }
        var children = ChildrenCpuSeconds();
        var clock = Stopwatch.StartNew();
        Process process;
        try
        {
            process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (null, $"tshark not run: {e.Message} (apt-get install tshark)");
        }
        using (process)
        {
            var errors = process.StandardError.ReadToEndAsync();
            long opcodes = 0;
            while (process.StandardOutput.ReadLine() is { } line)
            {
                if (line.Length > 0)
                {
                    opcodes += line.Count(c => c == ',') + 1;
                }
            }
            process.WaitForExit();
            var wall = clock.Elapsed.TotalSeconds;
            if (process.ExitCode != 0)
            {
                return (null, $"tshark exited {process.ExitCode}: {errors.Result.Trim()}");
            }
            var cpu = ChildrenCpuSeconds() - children;
            var why = opcodes != capture.Fpdus ? $"tshark printed {opcodes} opcodes for {capture.Fpdus} FPDUs" : null;
            return (new DecodeRate(capture.Packets, opcodes, capture.Octets, wall, cpu), why);
        }
    }

    /// <summary>Writes the result as the table <c>rdmadiag bench decode</c> prints.</summary>
    public static void Print(TextWriter o, DecodeBenchmarkResult r)
    {
        var c = r.Capture;
        o.WriteLine($"capture: {c.Fpdus} FPDUs in {c.Packets} packets, {c.Octets / 1e6:0.0} MB; 4 interleaved connections, MPA v2 with CRC32c;");
        o.WriteLine("         per connection, segments of 16 Sends (88-octet FPDUs) and every 16th segment one 1460-octet RDMA Write FPDU, an ACK every 4th");
        o.WriteLine();
        o.WriteLine($"{"",-10} {"seconds",9} {"packets/s",12} {"FPDUs/s",12} {"MB/s",8}");
        Row(o, "rdmadiag", r.Ours);
        var fpdus = r.Runs.Select(x => x.FpdusPerSecond / 1e6).Order().ToList();
        o.WriteLine($"{"",-10} median of {r.Runs.Count} decodes; M FPDUs/s per run, min {fpdus[0]:0.00} p50 {fpdus[fpdus.Count / 2]:0.00} max {fpdus[^1]:0.00} (wall)");
        if (r.Tshark is { } t)
        {
            Row(o, "tshark", t);
        }
        o.WriteLine();
        o.WriteLine($"rdmadiag peak RSS (VmHWM, reset before each decode): {r.PeakRssBytes / 1048576.0:0.0} MiB for {c.Fpdus} FPDUs, " +
                    $"{r.SmallPeakRssBytes / 1048576.0:0.0} MiB for {r.SmallFpdus}; {r.AllocatedBytes / 1024.0:0} KiB allocated by the decode");
        if (r.Tshark is { } ts)
        {
            var wallRatio = r.Ours.PacketsPerSecond / ts.PacketsPerSecond;
            var cpuRatio = r.Ours.PacketsPerCpuSecond / ts.PacketsPerCpuSecond;
            o.WriteLine($"rdmadiag / tshark packets per second: {wallRatio:0}x wall clock, {cpuRatio:0}x per CPU second");
            o.WriteLine($"target >= 100x tshark's packets/s: {(Math.Max(wallRatio, cpuRatio) >= 100 ? (Math.Min(wallRatio, cpuRatio) >= 100 ? "met" : "met by wall clock only") : "NOT met")}");
        }
        var perCore = r.Ours.FpdusPerCpuSecond;
        o.WriteLine($"target >= 5 M FPDUs/s per core: {perCore / 1e6:0.00} M per CPU second, {r.Ours.FpdusPerSecond / 1e6:0.00} M per wall second: {(perCore >= 5e6 ? "met" : "NOT met")}");
        if (r.TsharkNote is { } note)
        {
            o.WriteLine($"note: {note}");
        }
    }

    private static void Row(TextWriter o, string name, DecodeRate x)
    {
        string F(double v) => v.ToString("#,0", CultureInfo.InvariantCulture);
        o.WriteLine($"{name,-10} {x.WallSeconds,9:0.000} {F(x.PacketsPerSecond),12} {F(x.FpdusPerSecond),12} {x.MegabytesPerSecond,8:0} (wall)");
        o.WriteLine($"{"",-10} {x.CpuSeconds,9:0.000} {F(x.PacketsPerCpuSecond),12} {F(x.FpdusPerCpuSecond),12} {x.Octets / x.CpuSeconds / 1e6,8:0} (CPU)");
    }

    /// <summary>/proc/self/stat utime + stime, in seconds (USER_HZ is 100 on Linux).</summary>
    private static double ProcessCpuSeconds() => StatTicks(13, 14) / 100.0;

    /// <summary>/proc/self/stat cutime + cstime: CPU time of children this process has waited for.</summary>
    private static double ChildrenCpuSeconds() => StatTicks(15, 16) / 100.0;

    private static long StatTicks(int first, int second)
    {
        var stat = File.ReadAllText("/proc/self/stat");
        // The command name (field 2) may hold spaces; the numbered fields start after its closing parenthesis.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[first - 2], CultureInfo.InvariantCulture) + long.Parse(fields[second - 2], CultureInfo.InvariantCulture);
    }

    private static void ResetPeakRss()
    {
        try
        {
            // "5" resets the peak resident set size (VmHWM) to the current RSS (Linux 4.0 and later).
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Without it VmHWM is the whole process's peak: still an upper bound.
        }
    }

    private static long PeakRss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
            }
        }
        return 0;
    }
}
