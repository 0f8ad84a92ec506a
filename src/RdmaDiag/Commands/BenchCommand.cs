using System.CommandLine;
using System.Globalization;
using RdmaDiag.Wire;

namespace RdmaDiag.Cli.Commands;

/// <summary>`rdmadiag bench`: micro-benchmarks, one subcommand each (crc; later decode, endpoint).</summary>
public sealed class BenchCommand : Command
{
    public BenchCommand() : base("bench", "Measure RdmaDiag's own hot paths on this machine and print the numbers.")
    {
        Subcommands.Add(new CrcCommand());
        Subcommands.Add(new BenchEndpointCommand());
        Subcommands.Add(new BenchDecodeCommand());
    }

    /// <summary>`rdmadiag bench crc [--seconds S]`.</summary>
    public sealed class CrcCommand : Command
    {
        private const double MaxSeconds = 600;

        private readonly Option<double> _seconds = new("--seconds")
        {
            Description = "Timed seconds per buffer size, split between the fast path and the naive loop.",
            DefaultValueFactory = _ => 1.0,
        };

        public CrcCommand() : base("crc", "CRC-32C throughput (GB/s) for 64 B, 1 KiB and 64 KiB buffers: the fast path next to the naive one-lane loop, measured in the same run.")
        {
            Options.Add(_seconds);
            SetAction(parse =>
            {
                double seconds = parse.GetValue(_seconds);
                if (!(seconds > 0 && seconds <= MaxSeconds))
                {
                    throw new UserInputException(
                        $"--seconds {seconds.ToString(CultureInfo.InvariantCulture)}: expected a number of seconds above 0 and at most {MaxSeconds}");
                }
                var rows = Crc32cBenchmark.Run(TimeSpan.FromSeconds(seconds));
                Print(parse.InvocationConfiguration.Output, rows);
                return ExitCodes.Ok;
            });
        }

        internal static void Print(TextWriter output, IReadOnlyList<CrcBenchmarkRow> rows)
        {
            string path = Crc32c.IsHardwareAccelerated
                ? $"fast = {Crc32c.FastPath}; naive = hardware crc32, one 8-octet step at a time"
                : $"no CRC instruction on this CPU: fast = {Crc32c.FastPath}; naive = BitOperations.Crc32C software fallback";
            int rounds = rows.Count == 0 ? 0 : rows[0].Fast.RoundGBps.Count;
            output.WriteLine($"CRC-32C throughput on one core, GB/s (10^9 octets/s): median [min .. max] of {rounds} alternating rounds per size");
            output.WriteLine(path);
            output.WriteLine();
            output.WriteLine($"{"size",-8}  {"fast",-22}  {"naive",-22}  {"speed-up",8}");
            foreach (var row in rows)
            {
                output.WriteLine($"{FormatSize(row.BufferSize),-8}  {Format(row.Fast),-22}  {Format(row.Naive),-22}  {row.SpeedUp,7:F2}x");
            }
        }

        private static string Format(CrcThroughput t) =>
            string.Create(CultureInfo.InvariantCulture, $"{t.Median,6:F2} [{t.Min:F2} .. {t.Max:F2}]");

        private static string FormatSize(int size) => size switch
        {
            _ when size >= 1024 && size % 1024 == 0 => $"{size / 1024} KiB",
            _ => $"{size} B",
        };
    }
}
