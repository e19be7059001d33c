// Minimal stand-ins for the Unreal types the plugin's glue uses, so that g++ can check its syntax
// and types outside the engine (-fsyntax-only). Not an implementation: the real headers come
// with Unreal Engine. UHT macros expand to nothing; *.generated.h are empty.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using int32 = std::int32_t;
using int64 = std::int64_t;
using uint8 = std::uint8_t;
using SIZE_T = std::size_t;
using TCHAR = wchar_t;
#define TEXT(x) L##x

#define UCLASS(...)
#define USTRUCT(...)
#define UPROPERTY(...)
#define UFUNCTION(...)
#define GENERATED_BODY()
#define PERSONAMCP_API

class FString {
public:
    FString() = default;
    FString(const TCHAR* s) : s_(s ? s : L"") {}
    const TCHAR* operator*() const { return s_.c_str(); }
    bool IsEmpty() const { return s_.empty(); }
private:
    std::wstring s_;
};

namespace stub {
std::string ToUtf8(const TCHAR* s);
std::wstring FromUtf8(const char* s);
}  // namespace stub
#define TCHAR_TO_UTF8(s) (stub::ToUtf8(s).c_str())
#define UTF8_TO_TCHAR(s) (stub::FromUtf8(s).c_str())

template <class T> class TSharedPtr {
public:
    TSharedPtr() = default;
    TSharedPtr(std::shared_ptr<T> p) : p_(std::move(p)) {}
    T* Get() const { return p_.get(); }
    T* operator->() const { return p_.get(); }
    bool IsValid() const { return static_cast<bool>(p_); }
    void Reset() { p_.reset(); }
private:
    std::shared_ptr<T> p_;
};
template <class T> class TUniquePtr {
public:
    TUniquePtr() = default;
    TUniquePtr(std::unique_ptr<T> p) : p_(std::move(p)) {}
    T* Get() const { return p_.get(); }
    T* operator->() const { return p_.get(); }
    bool IsValid() const { return static_cast<bool>(p_); }
    void Reset() { p_.reset(); }
private:
    std::unique_ptr<T> p_;
};
template <class T, class... A> TUniquePtr<T> MakeUnique(A&&... a) { return TUniquePtr<T>(std::make_unique<T>(std::forward<A>(a)...)); }

class UObject {
public:
    virtual ~UObject() = default;
};
template <class T> class TWeakObjectPtr {
public:
    TWeakObjectPtr(T* p = nullptr) : p_(p) {}
    T* Get() const { return p_; }
private:
    T* p_;
};

template <class... Args> class TMulticastStub {
public:
    void Broadcast(Args... args) const { for (auto& f : calls_) f(args...); }
    void AddLambda(std::function<void(Args...)> f) { calls_.push_back(std::move(f)); }
    void Clear() { calls_.clear(); }
private:
    std::vector<std::function<void(Args...)>> calls_;
};
#define DECLARE_DYNAMIC_MULTICAST_DELEGATE_OneParam(Name, T1, N1) using Name = TMulticastStub<T1>;
#define DECLARE_DYNAMIC_MULTICAST_DELEGATE_TwoParams(Name, T1, N1, T2, N2) using Name = TMulticastStub<T1, T2>;

enum ELogVerbosity { Log, Warning, Error, All };
#define DEFINE_LOG_CATEGORY_STATIC(Name, Default, Compile) static int Name = 0;
#define UE_LOG(Category, Verbosity, Format, ...) ((void)(Category), (void)(Format))
