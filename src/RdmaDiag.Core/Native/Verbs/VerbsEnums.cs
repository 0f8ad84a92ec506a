namespace RdmaDiag.Native;

// Values are those of <infiniband/verbs.h> and <rdma/rdma_cma.h>; names follow the spec spellings.

public enum NodeType
{
    Unknown = -1,
    Ca = 1,
    Switch = 2,
    Router = 3,
    Rnic = 4,
    Usnic = 5,
    UsnicUdp = 6,
    Unspecified = 7,
}

public enum TransportType
{
    Unknown = -1,
    InfiniBand = 0,
    Iwarp = 1,
    Usnic = 2,
    UsnicUdp = 3,
    Unspecified = 4,
}

public enum PortState
{
    Nop = 0,
    Down = 1,
    Init = 2,
    Armed = 3,
    Active = 4,
    ActiveDefer = 5,
}

public enum LinkLayer : byte
{
    Unspecified = 0,
    InfiniBand = 1,
    Ethernet = 2,
}

[Flags]
public enum AccessFlags
{
    None = 0,
    LocalWrite = 1,
    RemoteWrite = 1 << 1,
    RemoteRead = 1 << 2,
    RemoteAtomic = 1 << 3,
    MwBind = 1 << 4,
    ZeroBased = 1 << 5,
    OnDemand = 1 << 6,
}

public enum QpType
{
    Rc = 2,
    Uc = 3,
    Ud = 4,
}

public enum QpState
{
    Reset = 0,
    Init = 1,
    Rtr = 2,
    Rts = 3,
    Sqd = 4,
    Sqe = 5,
    Error = 6,
    Unknown = 7,
}

[Flags]
public enum QpAttrMask
{
    State = 1 << 0,
    CurState = 1 << 1,
    AccessFlags = 1 << 3,
    PkeyIndex = 1 << 4,
    Port = 1 << 5,
    Qkey = 1 << 6,
    Av = 1 << 7,
    PathMtu = 1 << 8,
    Timeout = 1 << 9,
    RetryCnt = 1 << 10,
    RnrRetry = 1 << 11,
    RqPsn = 1 << 12,
    MaxQpRdAtomic = 1 << 13,
    MinRnrTimer = 1 << 15,
    SqPsn = 1 << 16,
    MaxDestRdAtomic = 1 << 17,
    Cap = 1 << 19,
    DestQpn = 1 << 20,
}

public enum SendOpcode
{
    RdmaWrite = 0,
    RdmaWriteWithImm = 1,
    Send = 2,
    SendWithImm = 3,
    RdmaRead = 4,
}

[Flags]
public enum SendFlags : uint
{
    None = 0,
    Fence = 1 << 0,
    Signaled = 1 << 1,
    Solicited = 1 << 2,
    Inline = 1 << 3,
}

public enum WcStatus
{
    Success = 0,
    LocLenErr = 1,
    LocQpOpErr = 2,
    LocEecOpErr = 3,
    LocProtErr = 4,
    WrFlushErr = 5,
    MwBindErr = 6,
    BadRespErr = 7,
    LocAccessErr = 8,
    RemInvReqErr = 9,
    RemAccessErr = 10,
    RemOpErr = 11,
    RetryExcErr = 12,
    RnrRetryExcErr = 13,
    LocRddViolErr = 14,
    RemInvRdReqErr = 15,
    RemAbortErr = 16,
    InvEecnErr = 17,
    InvEecStateErr = 18,
    FatalErr = 19,
    RespTimeoutErr = 20,
    GeneralErr = 21,
}

public enum WcOpcode
{
    Send = 0,
    RdmaWrite = 1,
    RdmaRead = 2,
    CompSwap = 3,
    FetchAdd = 4,
    BindMw = 5,
    LocalInv = 6,
    Recv = 1 << 7,
    RecvRdmaWithImm = (1 << 7) + 1,
}

[Flags]
public enum WcFlags : uint
{
    None = 0,
    Grh = 1 << 0,
    WithImm = 1 << 1,
    IpCsumOk = 1 << 2,
    WithInv = 1 << 3,
}

public enum RdmaPortSpace
{
    Tcp = 0x0106,
    Udp = 0x0111,
}

public enum RdmaCmEventType
{
    AddrResolved = 0,
    AddrError = 1,
    RouteResolved = 2,
    RouteError = 3,
    ConnectRequest = 4,
    ConnectResponse = 5,
    ConnectError = 6,
    Unreachable = 7,
    Rejected = 8,
    Established = 9,
    Disconnected = 10,
    DeviceRemoval = 11,
    MulticastJoin = 12,
    MulticastError = 13,
    AddrChange = 14,
    TimewaitExit = 15,
}
