defmodule CovenantProcessor.Log do
  @moduledoc """
  JSON logs: one object per line with ts, level, service, msg, trace_id plus fields.
  The trace id comes from the fields, else from the process (set per request/job),
  else a fresh one. Goes to stdout (stderr for the CLI, whose stdout is its answer).
  """
  alias CovenantProcessor.{JSON, Trace}

  @service "elixir-processor"

  def set_trace_id(trace_id), do: Process.put(:covenant_trace_id, trace_id)
  def trace_id, do: Process.get(:covenant_trace_id)

  def debug(msg, fields \\ %{}), do: log("debug", msg, fields)
  def info(msg, fields \\ %{}), do: log("info", msg, fields)
  def warn(msg, fields \\ %{}), do: log("warn", msg, fields)
  def error(msg, fields \\ %{}), do: log("error", msg, fields)

  def log(level, msg, fields) do
    fields = Map.new(fields)
    trace_id = Map.get(fields, :trace_id) || trace_id() || Trace.new_trace_id()

    base = [
      {"ts", now()},
      {"level", level},
      {"service", @service},
      {"msg", to_string(msg)},
      {"trace_id", trace_id}
    ]

    reserved = Enum.map(base, &elem(&1, 0))

    extra =
      fields
      |> Map.delete(:trace_id)
      |> Enum.map(fn {k, v} -> {to_string(k), plain(v)} end)
      |> Enum.reject(fn {k, _} -> k in reserved end)
      |> Enum.sort()

    event = {base ++ extra}

    line = redact(JSON.encode!(event)) <> "\n"
    device = :persistent_term.get({__MODULE__, :device}, :standard_io)
    IO.write(device, line)
    :ok
  rescue
    _ -> :ok
  end

  @doc "Registers a secret (the database password) that must never reach a log line."
  def add_secret(secret) when is_binary(secret) and byte_size(secret) >= 3 do
    :persistent_term.put({__MODULE__, :secrets}, [secret | secrets()])
  end

  def add_secret(_), do: :ok

  defp secrets, do: :persistent_term.get({__MODULE__, :secrets}, [])

  defp redact(line) do
    Enum.reduce(secrets(), line, fn s, acc -> String.replace(acc, s, "[REDACTED]") end)
  end

  def set_device(device), do: :persistent_term.put({__MODULE__, :device}, device)

  def now do
    System.system_time(:millisecond)
    |> :calendar.system_time_to_rfc3339(unit: :millisecond, offset: 'Z')
    |> List.to_string()
  end

  defp plain(v) when is_binary(v) or is_number(v) or is_boolean(v) or is_nil(v), do: v
  defp plain(v) when is_atom(v), do: Atom.to_string(v)
  defp plain(v) when is_list(v) do
    if List.ascii_printable?(v), do: List.to_string(v), else: Enum.map(v, &plain/1)
  end
  defp plain(%{} = m), do: Map.new(m, fn {k, v} -> {to_string(k), plain(v)} end)
  defp plain(v), do: inspect(v, limit: 20, printable_limit: 500)
end

defmodule CovenantProcessor.LogHandler do
  @moduledoc "An Erlang :logger handler that writes OTP/library log events as JSON lines."

  def log(%{level: level, msg: msg} = event, _config) do
    text =
      try do
        case msg do
          {:string, s} -> IO.chardata_to_string(s)
          {:report, r} -> inspect(r, limit: 30, printable_limit: 1000)
          {fmt, args} -> IO.chardata_to_string(:io_lib.format(fmt, args))
        end
      rescue
        _ -> inspect(msg, limit: 30)
      end

    meta = Map.get(event, :meta, %{})

    # The driver's connection process crashing is reported by us already ("cannot
    # connect to database ..."); OTP's crash report for it is noise.
    if String.contains?(text, ":pgsql_proto"), do: :ok, else: emit(level, text, meta)
  end

  defp emit(level, text, meta) do
    CovenantProcessor.Log.log(level_name(level), String.slice(text, 0, 2000), %{
      source: "otp",
      module: meta |> Map.get(:mfa, {nil}) |> elem(0)
    })
  end

  defp level_name(l) when l in [:emergency, :alert, :critical, :error], do: "error"
  defp level_name(:warning), do: "warn"
  defp level_name(:notice), do: "info"
  defp level_name(l), do: Atom.to_string(l)
end
