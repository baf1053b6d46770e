defmodule CovenantProcessor.Trace do
  @moduledoc "W3C trace context: parse the incoming traceparent, build outgoing ones."

  @re ~r/\A([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})\z/

  @doc "Trace id from a traceparent header value, or a fresh one."
  @spec trace_id_from(binary() | charlist() | nil | :undefined) :: binary()
  def trace_id_from(nil), do: new_trace_id()
  def trace_id_from(:undefined), do: new_trace_id()
  def trace_id_from(value) when is_list(value), do: trace_id_from(List.to_string(value))

  def trace_id_from(value) when is_binary(value) do
    case Regex.run(@re, String.trim(value)) do
      [_, version, trace_id, span_id, _flags]
      when version != "ff" and trace_id != "00000000000000000000000000000000" and
             span_id != "0000000000000000" ->
        trace_id

      _ ->
        new_trace_id()
    end
  end

  def trace_id_from(_), do: new_trace_id()

  def new_trace_id, do: hex(16)
  def new_span_id, do: hex(8)

  @doc "An outgoing traceparent header value carrying `trace_id` and a new span id."
  def traceparent(trace_id), do: "00-" <> trace_id <> "-" <> new_span_id() <> "-01"

  defp hex(n), do: Base.encode16(:crypto.strong_rand_bytes(n), case: :lower)
end
