namespace RdmaDiag.Latency;

/// <summary>Which kernel receive timestamps rx-stamp asks for.</summary>
public enum TimestampSource
{
    /// <summary>Software always, hardware too when the NIC has it switched on.</summary>
    Auto,
    Software,
    /// <summary>Hardware only: an error when the interface cannot deliver it.</summary>
    Hardware,
}

/// <summary>Transports rx-stamp measures.</summary>
[Flags]
public enum RxStampTransports
{
    Udp = 1,
    Tcp = 2,
    Both = Udp | Tcp,
}

/// <summary>One latency run as the user asked for it, already validated.</summary>
public sealed record LatencyRunSettings
{
    public const int DefaultIterations = 10_000;
    public const int DefaultWarmup = 500;

    /// <summary>Peer (tcp and the RDMA modes) or local receive address (rx-stamp); null means loopback.</summary>
    public string? Host { get; init; }

    /// <summary>0 means the mode's default.</summary>
    public int Port { get; init; }

    public IReadOnlyList<int> Sizes { get; init; } = [64];

    /// <summary>Measured iterations per size, ignored when <see cref="Duration"/> is set.</summary>
    public long Iterations { get; init; } = DefaultIterations;

    /// <summary>Measure each size for this long instead of a fixed count.</summary>
    public TimeSpan? Duration { get; init; }

    public int Warmup { get; init; } = DefaultWarmup;

    /// <summary>Spin on non-blocking receives instead of sleeping in the kernel.</summary>
    public bool BusyPoll { get; init; }

    /// <summary>Pin the measuring thread to this CPU.</summary>
    public int? Cpu { get; init; }

    public RxStampTransports Transports { get; init; } = RxStampTransports.Both;

    public TimestampSource Timestamps { get; init; } = TimestampSource.Auto;

    /// <summary>send, write and read: the userspace endpoint (--soft) or a verbs device (--verbs).</summary>
    public RdmaTransport Transport { get; init; } = RdmaTransport.Soft;

    /// <summary>The verbs device asked for (compare's verbs:DEV); null for any.</summary>
    public string? VerbsDevice { get; init; }

    /// <summary>send, write and read: ask for MPA CRCs (C=1, required), the dominant cost of soft iWARP.</summary>
    public bool Crc { get; init; }

    /// <summary>Give up on one reply after this long (a lost datagram, a stalled peer).</summary>
    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(2);

    public SamplePlan Plan => new(Warmup, Duration is null ? Iterations : long.MaxValue, Duration);
}

/// <summary>How many iterations to run: warm-up, then a count or until a deadline.</summary>
public readonly record struct SamplePlan(int Warmup, long Iterations, TimeSpan? Duration)
{
    public LatencyRecorder CreateRecorder() =>
        new(Duration is null ? Math.Min(Iterations, LatencyRecorder.DefaultMaxKeptSamples) : 1 << 16);

    /// <summary>
    /// The warm-up, then the measured iterations of <paramref name="once"/>, each timed with the
    /// monotonic Stopwatch and recorded in nanoseconds divided by <paramref name="divisor"/> (2: half a
    /// round trip). A duration run stops after the first iteration that ends past the deadline.
    /// </summary>
    public LatencyRecorder Measure(Action once, int divisor)
    {
        for (var i = 0; i < Warmup; i++)
        {
            once();
        }
        var recorder = CreateRecorder();
        var deadline = DeadlineTicks(System.Diagnostics.Stopwatch.GetTimestamp());
        for (long i = 0; i < Iterations; i++)
        {
            var t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            once();
            var t1 = System.Diagnostics.Stopwatch.GetTimestamp();
            recorder.Record(Clocks.TicksToNanoseconds(t1 - t0) / divisor);
            if (t1 >= deadline)
            {
                break;
            }
        }
        return recorder;
    }

    /// <summary>Stopwatch tick at which a duration run stops; long.MaxValue for a counted run.</summary>
    public long DeadlineTicks(long startTicks) =>
        Duration is { } d ? startTicks + (long)(d.TotalSeconds * System.Diagnostics.Stopwatch.Frequency) : long.MaxValue;
}
