namespace RdmaDiag.Endpoint;

/// <summary>What a completion reports.</summary>
public enum CompletionOpcode : byte
{
    Send,
    RdmaWrite,
    RdmaRead,
    /// <summary>A Send (any variant) consumed one posted receive.</summary>
    Receive,
    /// <summary>An Immediate Data message consumed one posted receive; the value is in <see cref="Completion.ImmediateData"/>.</summary>
    ReceiveImmediate,
    ImmediateData,
    FetchAdd,
    CompareSwap,
}

/// <summary>How a work request ended.</summary>
public enum CompletionStatus : byte
{
    Success,

    /// <summary>The connection failed or closed before the request finished.</summary>
    Flushed,

    /// <summary>The peer's Terminate blamed this request for a protection error (STag, bounds, access).</summary>
    RemoteAccessError,

    /// <summary>The peer's Terminate blamed this request for an operation error (opcode, IRD, catastrophic).</summary>
    RemoteOperationError,

    /// <summary>An incoming message did not fit the posted receive buffer.</summary>
    LocalLengthError,
}

[Flags]
public enum CompletionFlags : byte
{
    None = 0,

    /// <summary>Received with the Solicited Event bit (Send with SE, Immediate Data with SE).</summary>
    SolicitedEvent = 1,

    /// <summary>The message invalidated <see cref="Completion.InvalidatedSTag"/> (Send with Invalidate).</summary>
    Invalidated = 2,
}

/// <summary>Options for posting a Send, Write, Immediate, Read or Atomic.</summary>
[Flags]
public enum PostFlags : byte
{
    None = 0,

    /// <summary>Produce a completion when done (otherwise only failures surface, through the connection's error).</summary>
    Signaled = 1,

    /// <summary>Send with Solicited Event / Immediate Data with SE.</summary>
    Solicited = 2,
}

/// <summary>One completed work request, as ibv_wc: id, opcode, status, length and the extras.</summary>
public readonly record struct Completion(
    ulong WorkRequestId,
    CompletionOpcode Opcode,
    CompletionStatus Status,
    int ByteLength,
    CompletionFlags Flags = CompletionFlags.None,
    ulong ImmediateData = 0,
    uint InvalidatedSTag = 0,
    ulong AtomicOriginalValue = 0)
{
    public bool IsSuccess => Status == CompletionStatus.Success;

    public override string ToString() =>
        $"wr {WorkRequestId} {Opcode} {Status} {ByteLength} B{(Flags != CompletionFlags.None ? $" {Flags}" : "")}"
        + (Opcode is CompletionOpcode.ReceiveImmediate ? $" imm 0x{ImmediateData:X16}" : "")
        + ((Flags & CompletionFlags.Invalidated) != 0 ? $" inv 0x{InvalidatedSTag:X8}" : "")
        + (Opcode is CompletionOpcode.FetchAdd or CompletionOpcode.CompareSwap ? $" orig 0x{AtomicOriginalValue:X16}" : "");
}
