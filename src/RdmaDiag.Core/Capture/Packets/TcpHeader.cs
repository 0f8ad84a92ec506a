namespace RdmaDiag.Capture;

[Flags]
public enum TcpFlags : byte
{
    None = 0,
    Fin = 0x01,
    Syn = 0x02,
    Rst = 0x04,
    Psh = 0x08,
    Ack = 0x10,
    Urg = 0x20,
    Ece = 0x40,
    Cwr = 0x80,
}

/// <summary>
/// A decoded TCP header with the options RdmaDiag uses.
/// <code>
///  0                   1                   2                   3
/// +-------------------------------+-------------------------------+
/// |          Source Port          |       Destination Port        |
/// +-------------------------------+-------------------------------+
/// |                        Sequence Number                        |
/// +---------------------------------------------------------------+
/// |                    Acknowledgment Number                      |
/// +-------+-------+---------------+-------------------------------+
/// | Off   | Rsvd  | C E U A P R S F |          Window             |
/// +-------+-------+---------------+-------------------------------+
/// |           Checksum            |        Urgent Pointer         |
/// +-------------------------------+-------------------------------+
/// | Options: 2 MSS(4) 3 WScale(3) 4 SACK-permitted(2) 8 Timestamps(10)
/// </code>
/// </summary>
public readonly struct TcpHeader
{
    public ushort SourcePort { get; init; }
    public ushort DestinationPort { get; init; }
    public uint Sequence { get; init; }
    public uint Acknowledgment { get; init; }
    public TcpFlags Flags { get; init; }
    /// <summary>The raw 16-bit window field (not scaled).</summary>
    public ushort Window { get; init; }
    /// <summary>Header length in octets, options included (20–60).</summary>
    public int HeaderLength { get; init; }
    /// <summary>The MSS option's value, or 0 when absent.</summary>
    public ushort Mss { get; init; }
    /// <summary>The window-scale shift count, or -1 when absent.</summary>
    public sbyte WindowScale { get; init; }
    public bool SackPermitted { get; init; }
    public bool HasTimestamps { get; init; }
    public uint TimestampValue { get; init; }
    public uint TimestampEcho { get; init; }

    public bool Has(TcpFlags flag) => (Flags & flag) != 0;

    /// <summary>Sequence space the segment occupies: payload plus one each for SYN and FIN.</summary>
    public uint SequenceLength(int payloadLength) =>
        (uint)payloadLength + (Has(TcpFlags.Syn) ? 1u : 0u) + (Has(TcpFlags.Fin) ? 1u : 0u);

    public override string ToString()
    {
        Span<char> f = stackalloc char[8];
        var n = 0;
        foreach (var (flag, c) in new[] { (TcpFlags.Syn, 'S'), (TcpFlags.Fin, 'F'), (TcpFlags.Rst, 'R'), (TcpFlags.Psh, 'P'), (TcpFlags.Ack, '.'), (TcpFlags.Urg, 'U') })
        {
            if (Has(flag))
            {
                f[n++] = c;
            }
        }
        return $"{SourcePort} > {DestinationPort} [{f[..n]}] seq {Sequence} ack {Acknowledgment} win {Window}";
    }
}
