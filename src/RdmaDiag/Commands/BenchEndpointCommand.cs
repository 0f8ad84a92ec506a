using System.CommandLine;
using System.Globalization;
using RdmaDiag.Endpoint;

namespace RdmaDiag.Cli.Commands;

/// <summary>
/// `rdmadiag bench endpoint`: the userspace iWARP endpoint against raw TCP on the same loopback, both
/// sides of each ratio measured in alternating rounds of the same run, next to the issue's targets.
/// </summary>
public sealed class BenchEndpointCommand : Command
{
    private readonly Option<int> _rounds = new("--rounds") { Description = "Alternating ping-pong rounds (raw TCP, then iWARP)", DefaultValueFactory = _ => 2000 };
    private readonly Option<int> _iterations = new("--iterations") { Description = "Round trips per ping-pong round", DefaultValueFactory = _ => 5 };
    private readonly Option<int> _size = new("--size") { Description = "Ping-pong message size in octets", DefaultValueFactory = _ => 64 };
    private readonly Option<string> _mode = new("--progress") { Description = "Who runs the iWARP receive loop: inline (the waiting thread) or background (a receive thread)", DefaultValueFactory = _ => "inline" };
    private readonly Option<bool> _busyPoll = new("--busy-poll") { Description = "Spin instead of sleeping while waiting (burns a core)" };
    private readonly Option<int> _streamRounds = new("--stream-rounds") { Description = "Alternating streaming rounds", DefaultValueFactory = _ => 30 };
    private readonly Option<int> _streamMiB = new("--stream-mib") { Description = "MiB streamed per round", DefaultValueFactory = _ => 8 };
    private readonly Option<int> _messageKiB = new("--message-kib") { Description = "RDMA Write / TCP send size in KiB", DefaultValueFactory = _ => 64 };

    public BenchEndpointCommand() : base("endpoint", "Userspace iWARP vs raw TCP on loopback: Send/Recv ping-pong p50/p99 and RDMA Write streaming with CRC on and off.")
    {
        Options.Add(_rounds);
        Options.Add(_iterations);
        Options.Add(_size);
        Options.Add(_mode);
        Options.Add(_busyPoll);
        Options.Add(_streamRounds);
        Options.Add(_streamMiB);
        Options.Add(_messageKiB);
        SetAction(Run);
    }

    private int Run(ParseResult parse)
    {
        int rounds = Positive(parse.GetValue(_rounds), "--rounds", 10_000);
        int iterations = Positive(parse.GetValue(_iterations), "--iterations", 1_000_000);
        int size = Positive(parse.GetValue(_size), "--size", 1 << 20);
        int streamRounds = Positive(parse.GetValue(_streamRounds), "--stream-rounds", 1000);
        int streamMiB = Positive(parse.GetValue(_streamMiB), "--stream-mib", 4096);
        int messageKiB = Positive(parse.GetValue(_messageKiB), "--message-kib", 1024);
        ProgressMode mode = parse.GetValue(_mode)?.ToLowerInvariant() switch
        {
            "inline" => ProgressMode.Inline,
            "background" => ProgressMode.Background,
            var other => throw new UserInputException($"--progress '{other}' is not a progress mode; expected inline or background"),
        };

        TextWriter output = parse.InvocationConfiguration.Output;
        output.WriteLine($"rdmadiag bench endpoint: loopback, {Environment.ProcessorCount} CPU(s), iWARP progress {mode.ToString().ToLowerInvariant()}{(parse.GetValue(_busyPoll) ? " busy-poll" : "")}; each ratio from alternating rounds of one run");
        output.Flush();
        PingPongResult ping = EndpointBenchmark.PingPong(size, rounds, iterations, mode, parse.GetValue(_busyPoll));
        IReadOnlyList<StreamingResult> streams = EndpointBenchmark.Streaming(messageKiB * 1024, streamRounds, (long)streamMiB << 20);
        Print(output, ping, streams, rounds * iterations, streamRounds);
        return ExitCodes.Ok;
    }

    internal static void Print(TextWriter output, PingPongResult ping, IReadOnlyList<StreamingResult> streams, int samples, int streamRounds)
    {
        string Row(string what, double tcp, double iwarp, double ratio, string target, bool met) =>
            string.Create(CultureInfo.InvariantCulture, $"{what,-34} {tcp,10:F2} {iwarp,10:F2} {ratio,7:F3}  {target,-7} {(met ? "met" : "MISSED")}");

        output.WriteLine();
        output.WriteLine($"{"",-34} {"raw TCP",10} {"iWARP",10} {"ratio",7}  target");
        output.WriteLine(Row($"Send/Recv {ping.Size} B round trip p50 (us)", ping.Tcp.P50, ping.Iwarp.P50, ping.P50Ratio, $"<= {EndpointBenchmark.LatencyTarget}", ping.P50Ratio <= EndpointBenchmark.LatencyTarget));
        output.WriteLine(Row($"Send/Recv {ping.Size} B round trip p99 (us)", ping.Tcp.P99, ping.Iwarp.P99, ping.P99Ratio, $"<= {EndpointBenchmark.LatencyTarget}", ping.P99Ratio <= EndpointBenchmark.LatencyTarget));
        foreach (StreamingResult stream in streams)
        {
            output.WriteLine(Row($"RDMA Write {stream.MessageSize / 1024} KiB, CRC {(stream.Crc ? "on" : "off")} (GB/s)", stream.Tcp.Median, stream.Iwarp.Median, stream.Ratio,
                $">= {EndpointBenchmark.ThroughputTarget}", stream.Ratio >= EndpointBenchmark.ThroughputTarget));
        }
        output.WriteLine();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"latency: {samples} round trips each; min/max raw TCP {ping.Tcp.Min:F1}/{ping.Tcp.Max:F1} us, iWARP {ping.Iwarp.Min:F1}/{ping.Iwarp.Max:F1} us"));
        foreach (StreamingResult stream in streams)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"throughput, CRC {(stream.Crc ? "on " : "off")}: median of {streamRounds} rounds; range raw TCP {stream.Tcp.Min:F2}..{stream.Tcp.Max:F2}, iWARP {stream.Iwarp.Min:F2}..{stream.Iwarp.Max:F2} GB/s"));
        }
    }

    private static int Positive(int value, string name, int max) => value >= 1 && value <= max
        ? value
        : throw new UserInputException($"{name} {value} is out of range; expected 1 to {max}");
}
