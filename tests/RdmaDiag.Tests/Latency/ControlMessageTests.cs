using System.Buffers.Binary;
using RdmaDiag.Latency;

namespace RdmaDiag.Tests.Latency;

public class ControlMessageTests
{
    private const int SolSocket = 1;
    private const int ScmTimestamping = 37;

    /// <summary>Writes one cmsg (LP64 little-endian layout) at offset; returns the next aligned offset.</summary>
    private static int Put(byte[] buffer, int offset, int level, int type, ReadOnlySpan<byte> data, long? lengthOverride = null)
    {
        BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(offset), lengthOverride ?? ControlMessageReader.Length(data.Length));
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(offset + 8), level);
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(offset + 12), type);
        data.CopyTo(buffer.AsSpan(offset + 16));
        return offset + ControlMessageReader.Space(data.Length);
    }

    private static byte[] Timestamping(long swSec, long swNsec, long hwSec, long hwNsec)
    {
        var data = new byte[48];
        BinaryPrimitives.WriteInt64LittleEndian(data, swSec);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(8), swNsec);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(32), hwSec);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(40), hwNsec);
        return data;
    }

    [Fact]
    public void Layout_Lp64_MatchesCmsgMacros()
    {
        Assert.Equal(16, ControlMessageReader.HeaderLength);
        Assert.Equal(16 + 48, ControlMessageReader.Space(48));
        Assert.Equal(16 + 8, ControlMessageReader.Space(4));
        Assert.Equal(16 + 4, ControlMessageReader.Length(4));
    }

    [Fact]
    public void TryRead_TimestampingAfterAnotherMessage_FindsSoftwareAndHardware()
    {
        var buffer = new byte[256];
        Array.Fill(buffer, (byte)0xff);
        var next = Put(buffer, 0, 0 /* IPPROTO_IP */, 8 /* IP_PKTINFO */, new byte[12]);
        var end = Put(buffer, next, SolSocket, ScmTimestamping, Timestamping(1_700_000_000, 123_456_789, 55, 7));

        Assert.True(KernelTimestamps.TryRead(buffer.AsSpan(0, end), out var stamps));
        Assert.Equal(1_700_000_000L * 1_000_000_000 + 123_456_789, stamps.Software);
        Assert.Equal(55L * 1_000_000_000 + 7, stamps.Hardware);
    }

    [Fact]
    public void Reader_TwoMessages_YieldsBothWithTheirData()
    {
        var buffer = new byte[128];
        var next = Put(buffer, 0, 1, 2, [1, 2, 3]);
        var end = Put(buffer, next, 4, 5, [9, 8, 7, 6, 5]);

        var seen = new List<(int, int, byte[])>();
        foreach (var m in new ControlMessageReader(buffer.AsSpan(0, end)))
        {
            seen.Add((m.Level, m.Type, m.Data.ToArray()));
        }

        Assert.Equal(2, seen.Count);
        Assert.Equal((1, 2), (seen[0].Item1, seen[0].Item2));
        Assert.Equal(new byte[] { 1, 2, 3 }, seen[0].Item3);
        Assert.Equal(new byte[] { 9, 8, 7, 6, 5 }, seen[1].Item3);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(8L)]
    [InlineData(10_000L)]
    [InlineData(-1L)]
    public void Reader_BadCmsgLength_StopsWithoutThrowing(long length)
    {
        var buffer = new byte[80];
        Put(buffer, 0, SolSocket, ScmTimestamping, Timestamping(1, 2, 3, 4), lengthOverride: length);

        var count = 0;
        foreach (var _ in new ControlMessageReader(buffer))
        {
            count++;
        }

        Assert.Equal(0, count);
        Assert.False(KernelTimestamps.TryRead(buffer, out _));
    }

    [Fact]
    public void TryRead_TruncatedBuffer_FindsNothing()
    {
        var buffer = new byte[128];
        var end = Put(buffer, 0, SolSocket, ScmTimestamping, Timestamping(1, 2, 3, 4));

        Assert.False(KernelTimestamps.TryRead(buffer.AsSpan(0, end - 1), out _));
        Assert.False(KernelTimestamps.TryRead(buffer.AsSpan(0, 10), out _));
        Assert.False(KernelTimestamps.TryRead([], out _));
    }

    [Fact]
    public void TryRead_ShortTimestampingPayload_IsIgnored()
    {
        var buffer = new byte[128];
        var end = Put(buffer, 0, SolSocket, ScmTimestamping, new byte[16]);

        Assert.False(KernelTimestamps.TryRead(buffer.AsSpan(0, end), out _));
    }
}
